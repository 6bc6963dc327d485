import { z } from 'zod';
import { ChatMessageSchema } from './task-request.ts';
import { named } from './registry.ts';

/**
 * The subset of OpenAI's API that llama-orch accepts and emits. Request objects are loose on purpose:
 * llama.cpp's extension fields (ignore_eos, top_k, min_p, grammar, json_schema, …) pass through untouched.
 */
const COMMON_REQUEST = {
  model: z.string().min(1),
  stream: z.boolean().default(false),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: z.int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  n: z.literal(1, 'only n=1 is supported').nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(16)])
    .nullable()
    .optional(),
  seed: z.int().nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  user: z.string().optional(),
};

export const ChatCompletionRequestSchema = named(
  z.looseObject({
    ...COMMON_REQUEST,
    messages: z.array(ChatMessageSchema).min(1),
    max_completion_tokens: z.int().min(1).nullable().optional(),
  }),
  'ChatCompletionRequest',
  'Body of POST /v1/chat/completions.',
);
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>;

export const CompletionRequestSchema = named(
  z.looseObject({
    ...COMMON_REQUEST,
    prompt: z.union([z.string(), z.array(z.string()).length(1, 'only one prompt per request is supported')]),
    echo: z.literal(false, 'echo is not supported').optional(),
  }),
  'CompletionRequest',
  'Body of POST /v1/completions.',
);
export type CompletionRequest = z.output<typeof CompletionRequestSchema>;

export const UsageSchema = named(
  z.looseObject({
    prompt_tokens: z.int().min(0),
    completion_tokens: z.int().min(0),
    total_tokens: z.int().min(0),
  }),
  'Usage',
  'Token counts of one request.',
);

/** OpenAI's finish reasons; the engine's answer is relayed as it is, so these are what it may say. */
const FinishReasonSchema = z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'function_call']).nullable();

/**
 * Answers are the engine's own, relayed (only `id` and `model` rewritten): the schemas below name what llama-orch
 * guarantees and let everything else through (tool_calls, logprobs, reasoning_content, timings, …).
 */
const RESPONSE_HEAD = {
  id: z.string().min(1),
  created: z.int().min(0),
  model: z.string().min(1),
};

const ToolCallSchema = z.looseObject({
  id: z.string().optional(),
  type: z.literal('function').optional(),
  index: z.int().min(0).optional(),
  function: z.looseObject({ name: z.string().optional(), arguments: z.string().optional() }),
});

export const ChatCompletionSchema = named(
  z.looseObject({
    ...RESPONSE_HEAD,
    object: z.literal('chat.completion'),
    choices: z
      .array(
        z.looseObject({
          index: z.int().min(0),
          message: z.looseObject({
            role: z.literal('assistant'),
            content: z.string().nullable(),
            tool_calls: z.array(ToolCallSchema).optional(),
            reasoning_content: z.string().optional(),
          }),
          finish_reason: FinishReasonSchema,
        }),
      )
      .min(1),
    usage: UsageSchema,
  }),
  'ChatCompletion',
  "Answer of POST /v1/chat/completions with stream: false: the engine's answer with our id and the model asked for.",
);
export type ChatCompletion = z.infer<typeof ChatCompletionSchema>;

export const ChatCompletionChunkSchema = named(
  z.looseObject({
    ...RESPONSE_HEAD,
    object: z.literal('chat.completion.chunk'),
    choices: z.array(
      z.looseObject({
        index: z.int().min(0),
        delta: z.looseObject({
          role: z.literal('assistant').optional(),
          content: z.string().nullable().optional(),
          tool_calls: z.array(ToolCallSchema).optional(),
          reasoning_content: z.string().nullable().optional(),
        }),
        finish_reason: FinishReasonSchema,
      }),
    ),
    usage: UsageSchema.nullable().optional(),
  }),
  'ChatCompletionChunk',
  'One `data:` chunk of POST /v1/chat/completions with stream: true (the stream ends with `data: [DONE]`).',
);
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunkSchema>;

const TextChoiceSchema = z.looseObject({
  index: z.int().min(0),
  text: z.string(),
  logprobs: z.unknown().optional(),
  finish_reason: FinishReasonSchema,
});

export const CompletionSchema = named(
  z.looseObject({
    ...RESPONSE_HEAD,
    object: z.literal('text_completion'),
    choices: z.array(TextChoiceSchema).min(1),
    usage: UsageSchema,
  }),
  'Completion',
  'Answer of POST /v1/completions with stream: false.',
);
export type Completion = z.infer<typeof CompletionSchema>;

export const CompletionChunkSchema = named(
  z.looseObject({
    ...RESPONSE_HEAD,
    object: z.literal('text_completion'),
    choices: z.array(TextChoiceSchema),
    usage: UsageSchema.nullable().optional(),
  }),
  'CompletionChunk',
  'One `data:` chunk of POST /v1/completions with stream: true.',
);
export type CompletionChunk = z.infer<typeof CompletionChunkSchema>;

export const ModelListSchema = named(
  z.strictObject({
    object: z.literal('list'),
    data: z.array(
      z.looseObject({
        id: z.string().min(1),
        object: z.literal('model'),
        created: z.int().min(0),
        owned_by: z.string().min(1),
        /** llama-orch's: the state of the model's best pool, and that pool. */
        state: z.string().optional(),
        pool_id: z.string().optional(),
        /** That pool's: loaded `always` or `on-demand`, and the memory its engines hold (or will, once loaded). */
        load: z.enum(['always', 'on-demand']).optional(),
        memory_estimate_bytes: z.int().min(0).nullable().optional(),
      }),
    ),
  }),
  'ModelList',
  'Answer of GET /v1/models: every model a reachable pool serves, with the state of its best pool.',
);
export type ModelList = z.infer<typeof ModelListSchema>;

/** Body of POST /v1/responses (OpenAI's Responses API): relayed to the engine; we read the model and stream. */
export const ResponsesRequestSchema = named(
  z.looseObject({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.unknown()).min(1)]),
    stream: z.boolean().default(false),
    max_output_tokens: z.int().min(1).nullable().optional(),
  }),
  'ResponsesRequest',
  'Body of POST /v1/responses; every other field passes through to the engine.',
);

/** Body of POST /v1/messages (Anthropic's Messages API): relayed to the engine. */
export const MessagesRequestSchema = named(
  z.looseObject({
    model: z.string().min(1),
    messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content: z.unknown() })).min(1),
    max_tokens: z.int().min(1),
    stream: z.boolean().default(false),
  }),
  'MessagesRequest',
  "Body of POST /v1/messages (Anthropic's shape); every other field passes through to the engine.",
);

/** Body of POST /v1/messages/count_tokens. */
export const CountTokensRequestSchema = named(
  z.looseObject({
    model: z.string().min(1),
    messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content: z.unknown() })).min(1),
  }),
  'CountTokensRequest',
  'Body of POST /v1/messages/count_tokens.',
);

/** Answer of POST /v1/responses with stream: false: the engine's response object, with the model asked for. */
export const ResponseObjectSchema = named(
  z.looseObject({
    id: z.string().min(1),
    object: z.literal('response'),
    model: z.string().min(1),
    status: z.string(),
    output: z.array(z.looseObject({ type: z.string() })),
  }),
  'ResponseObject',
  'Answer of POST /v1/responses with stream: false (relayed from the engine; `model` is the one asked for).',
);

export const ResponseStreamEventSchema = named(
  z.looseObject({ type: z.string().min(1) }),
  'ResponseStreamEvent',
  'One event of POST /v1/responses with stream: true (`event:` names its type); a failure is an `error` event.',
);

/** Answer of POST /v1/messages with stream: false. */
export const AnthropicMessageSchema = named(
  z.looseObject({
    id: z.string().min(1),
    type: z.literal('message'),
    role: z.literal('assistant'),
    model: z.string().min(1),
    content: z.array(z.looseObject({ type: z.string() })),
    stop_reason: z.string().nullable(),
  }),
  'AnthropicMessage',
  "Answer of POST /v1/messages with stream: false (Anthropic's shape, relayed from the engine).",
);

export const MessageStreamEventSchema = named(
  z.looseObject({ type: z.string().min(1) }),
  'MessageStreamEvent',
  'One event of POST /v1/messages with stream: true (message_start … message_stop); a failure is an `error` event.',
);

export const TokenCountSchema = named(
  z.looseObject({ input_tokens: z.int().min(0) }),
  'TokenCount',
  'Answer of POST /v1/messages/count_tokens.',
);

export const AnthropicErrorResponseSchema = named(
  z.strictObject({ type: z.literal('error'), error: z.strictObject({ type: z.string(), message: z.string() }) }),
  'AnthropicErrorResponse',
  'An error on /v1/messages, in Anthropic’s shape; the message starts with our error code.',
);
