/** The routes the hostile-input section sends to: what each takes, its valid base body, its error shape. */
import type { Readable } from 'node:stream';
import fc from 'fast-check';

export type Json = Record<string, unknown>;
export type Shape = 'native' | 'openai' | 'anthropic';
/** JSON value types; `number` in a field's accepted list means int and fraction. */
export type ValueType = 'string' | 'int' | 'fraction' | 'bool' | 'array' | 'object' | 'null';
export type Accepted = readonly (ValueType | 'number')[];

export interface Route {
  readonly path: string;
  readonly shape: Shape;
  /** A small valid body: at most 4 tokens, not streamed. */
  readonly base: fc.Arbitrary<Json>;
  /** Every field the route knows (schema, or the API it relays), by path, with the JSON types it accepts. */
  readonly fields: Readonly<Record<string, Accepted>>;
  readonly textField: string;
  readonly tokensField: string | null;
  /** The base made fit for a change to `field` (a task's messages instead of its prompt). */
  readonly forField?: (base: Json, field: string) => Json;
}

export interface Hostile {
  readonly label: string;
  /** null: no content-type header */
  readonly contentType: string | null;
  readonly body: string | Buffer | (() => Readable);
  readonly oversized?: true;
}

export const JSON_TYPE = 'application/json';
export const LIMIT_BYTES = 4 * 1024 * 1024;
export const MARK = '__hostile__';

export const text = fc.string({ maxLength: 40 });
export const tokens = fc.integer({ min: 1, max: 4 });
export const turn = (role: string, content: unknown): Json => ({ role, content });
export const turns = text.map((content) => [turn('user', content)]);
export const NUMBER: Accepted = ['number'];
export const INT_OR_NULL: Accepted = ['int', 'null'];
export const NUMBER_OR_NULL: Accepted = ['number', 'null'];
export const CHAT_TURN = {
  messages: ['array'],
  'messages.0': ['object'],
  'messages.0.role': ['string'],
  'messages.0.content': ['string', 'array', 'null'],
  'messages.0.name': ['string'],
} as const satisfies Record<string, Accepted>;
export const ANTHROPIC_TURN = { messages: ['array'], 'messages.0': ['object'], 'messages.0.role': ['string'] } as const;
export const OPENAI_COMMON = {
  model: ['string'],
  stream: ['bool'],
  stream_options: ['object', 'null'],
  'stream_options.include_usage': ['bool'],
  max_tokens: INT_OR_NULL,
  temperature: NUMBER_OR_NULL,
  top_p: NUMBER_OR_NULL,
  n: INT_OR_NULL,
  stop: ['string', 'array', 'null'],
  seed: INT_OR_NULL,
  presence_penalty: NUMBER_OR_NULL,
  frequency_penalty: NUMBER_OR_NULL,
  user: ['string'],
} as const satisfies Record<string, Accepted>;

export const ROUTES: readonly Route[] = [
  {
    path: '/v2/tasks',
    shape: 'native',
    base: fc.record({
      model_ref: fc.constant('demo'),
      prompt: text,
      max_tokens: tokens,
      priority: fc.constantFrom('interactive', 'batch'),
    }),
    fields: {
      task_id: ['string'],
      session_id: ['string'],
      model_ref: ['string'],
      prompt: ['string'],
      ...CHAT_TURN,
      max_tokens: ['int'],
      priority: ['string'],
      deadline_ms: ['int'],
      ctx: ['int'],
      expected_tokens: ['int'],
      kv_hint: ['string'],
      placement: ['object'],
      'placement.mode': ['string'],
      'placement.pin_pool_id': ['string'],
      'placement.prefer_pools': ['array'],
      'placement.avoid_pools': ['array'],
      'placement.allow_fallback': ['bool'],
      seed: ['int'],
      temperature: NUMBER,
      top_p: NUMBER,
      top_k: ['int'],
      min_p: NUMBER,
      stop: ['array'],
      ignore_eos: ['bool'],
      grammar: ['string'],
    },
    textField: 'prompt',
    tokensField: 'max_tokens',
    forField: (base, field) => {
      if (!field.startsWith('messages')) return base;
      const { prompt, ...rest } = base;
      return { ...rest, messages: [turn('user', prompt)] };
    },
  },
  {
    path: '/v1/chat/completions',
    shape: 'openai',
    base: fc.record({ model: fc.constant('demo'), messages: turns, max_tokens: tokens, stream: fc.constant(false) }),
    fields: { ...OPENAI_COMMON, ...CHAT_TURN, max_completion_tokens: INT_OR_NULL },
    textField: 'messages.0.content',
    tokensField: 'max_tokens',
  },
  {
    path: '/v1/completions',
    shape: 'openai',
    base: fc.record({ model: fc.constant('demo'), prompt: text, max_tokens: tokens, stream: fc.constant(false) }),
    fields: { ...OPENAI_COMMON, prompt: ['string', 'array'], echo: ['bool'] },
    textField: 'prompt',
    tokensField: 'max_tokens',
  },
  {
    path: '/v1/messages',
    shape: 'anthropic',
    base: fc.record({ model: fc.constant('demo'), messages: turns, max_tokens: tokens, stream: fc.constant(false) }),
    fields: {
      model: ['string'],
      ...ANTHROPIC_TURN,
      max_tokens: ['int'],
      stream: ['bool'],
      system: ['string', 'array'],
      temperature: NUMBER,
      top_p: NUMBER,
      top_k: ['int'],
      stop_sequences: ['array'],
      metadata: ['object'],
      tools: ['array'],
      tool_choice: ['object'],
    },
    textField: 'messages.0.content',
    tokensField: 'max_tokens',
  },
  {
    path: '/v1/responses',
    shape: 'openai',
    base: fc.record({ model: fc.constant('demo'), input: text, max_output_tokens: tokens, stream: fc.constant(false) }),
    fields: {
      model: ['string'],
      input: ['string', 'array'],
      stream: ['bool'],
      max_output_tokens: INT_OR_NULL,
      previous_response_id: ['null'],
      instructions: ['string'],
      temperature: NUMBER,
      top_p: NUMBER,
      tools: ['array'],
    },
    textField: 'input',
    tokensField: 'max_output_tokens',
  },
  {
    path: '/v1/embeddings',
    shape: 'openai',
    base: fc.record({ model: fc.constant('demo'), input: text.filter((t) => t.trim() !== '') }),
    fields: {
      model: ['string'],
      input: ['string', 'array'],
      encoding_format: ['string'],
      dimensions: ['int'],
      user: ['string'],
    },
    textField: 'input',
    tokensField: null,
  },
  {
    path: '/v1/rerank',
    shape: 'openai',
    base: fc.record({
      model: fc.constant('demo'),
      query: text.filter((t) => t.trim() !== ''),
      documents: fc.array(text, { minLength: 1, maxLength: 3 }),
    }),
    fields: {
      model: ['string'],
      query: ['string'],
      documents: ['array'],
      'documents.0': ['string', 'object'],
      top_n: ['int'],
      return_documents: ['bool'],
    },
    textField: 'query',
    tokensField: null,
  },
  {
    path: '/v1/messages/count_tokens',
    shape: 'anthropic',
    base: fc.record({ model: fc.constant('demo'), messages: turns }),
    fields: { model: ['string'], ...ANTHROPIC_TURN, system: ['string', 'array'], tools: ['array'] },
    textField: 'messages.0.content',
    tokensField: null,
  },
];
