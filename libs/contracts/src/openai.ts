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
  z.strictObject({
    prompt_tokens: z.int().min(0),
    completion_tokens: z.int().min(0),
    total_tokens: z.int().min(0),
  }),
  'Usage',
  'Token counts of one request.',
);

const FinishReasonSchema = z.enum(['stop', 'length']).nullable();

const RESPONSE_HEAD = {
  id: z.string().min(1),
  created: z.int().min(0),
  model: z.string().min(1),
};

export const ChatCompletionSchema = named(
  z.strictObject({
    ...RESPONSE_HEAD,
    object: z.literal('chat.completion'),
    choices: z
      .array(
        z.strictObject({
          index: z.int().min(0),
          message: z.strictObject({ role: z.literal('assistant'), content: z.string() }),
          finish_reason: FinishReasonSchema,
        }),
      )
      .min(1),
    usage: UsageSchema,
  }),
  'ChatCompletion',
  'Answer of POST /v1/chat/completions with stream: false.',
);
export type ChatCompletion = z.infer<typeof ChatCompletionSchema>;

export const ChatCompletionChunkSchema = named(
  z.strictObject({
    ...RESPONSE_HEAD,
    object: z.literal('chat.completion.chunk'),
    choices: z.array(
      z.strictObject({
        index: z.int().min(0),
        delta: z.strictObject({ role: z.literal('assistant').optional(), content: z.string().optional() }),
        finish_reason: FinishReasonSchema,
      }),
    ),
    usage: UsageSchema.nullable().optional(),
  }),
  'ChatCompletionChunk',
  'One `data:` chunk of POST /v1/chat/completions with stream: true (the stream ends with `data: [DONE]`).',
);
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunkSchema>;

const TextChoiceSchema = z.strictObject({
  index: z.int().min(0),
  text: z.string(),
  logprobs: z.null(),
  finish_reason: FinishReasonSchema,
});

export const CompletionSchema = named(
  z.strictObject({
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
  z.strictObject({
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
      z.strictObject({
        id: z.string().min(1),
        object: z.literal('model'),
        created: z.int().min(0),
        owned_by: z.string().min(1),
      }),
    ),
  }),
  'ModelList',
  'Answer of GET /v1/models: every model that a ready pool serves.',
);
export type ModelList = z.infer<typeof ModelListSchema>;
