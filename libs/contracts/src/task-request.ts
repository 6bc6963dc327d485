import { z } from 'zod';
import { ClientIdSchema, ResourceIdSchema } from './ids.ts';
import { named } from './registry.ts';

export const PrioritySchema = named(
  z.enum(['interactive', 'batch']),
  'Priority',
  'interactive tasks start before batch tasks.',
);
export type Priority = z.infer<typeof PrioritySchema>;

export const PlacementSchema = named(
  z
    .strictObject({
      mode: z.enum(['pin', 'prefer', 'auto']).default('auto'),
      pin_pool_id: ResourceIdSchema.optional(),
      prefer_pools: z.array(ResourceIdSchema).max(64).optional(),
      avoid_pools: z.array(ResourceIdSchema).max(64).optional(),
      allow_fallback: z.boolean().default(true),
    })
    .superRefine((placement, ctx) => {
      if (placement.mode === 'pin' && placement.pin_pool_id === undefined) {
        ctx.addIssue({ code: 'custom', path: ['pin_pool_id'], message: 'required when mode is "pin"' });
      }
      if (placement.mode !== 'pin' && placement.pin_pool_id !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['pin_pool_id'], message: 'only allowed when mode is "pin"' });
      }
      if (placement.mode === 'prefer' && (placement.prefer_pools ?? []).length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['prefer_pools'],
          message: 'needs at least one pool when mode is "prefer"',
        });
      }
    }),
  'Placement',
  'Placement overrides: pin to one pool, prefer some pools, avoid others.',
);

export const ChatMessageSchema = named(
  z.looseObject({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: z.union([
      z.string(),
      z.array(z.looseObject({ type: z.string().min(1), text: z.string().optional() })),
      z.null(),
    ]),
    name: z.string().optional(),
  }),
  'ChatMessage',
  'One chat turn (OpenAI shape; extra keys such as tool_calls pass through to the engine).',
);

const SAMPLING = {
  seed: z.int().optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.int().min(0).optional(),
  min_p: z.number().min(0).max(1).optional(),
  stop: z.array(z.string().min(1)).max(16).optional(),
  ignore_eos: z.boolean().optional(),
  grammar: z.string().optional(),
};

export const TaskRequestSchema = named(
  z
    .strictObject({
      task_id: ClientIdSchema.optional(),
      session_id: ClientIdSchema.optional(),
      model_ref: z.string().min(1),
      prompt: z.string().optional(),
      messages: z.array(ChatMessageSchema).min(1).optional(),
      max_tokens: z.int().min(1).max(1_000_000).default(256),
      priority: PrioritySchema.default('interactive'),
      deadline_ms: z.int().min(1).optional(),
      ctx: z.int().min(0).optional(),
      expected_tokens: z.int().min(0).optional(),
      kv_hint: z.enum(['reuse', 'cold']).optional(),
      placement: PlacementSchema.optional(),
      ...SAMPLING,
    })
    .superRefine((task, ctx) => {
      if ((task.prompt === undefined) === (task.messages === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'give exactly one of prompt or messages' });
      }
    }),
  'TaskRequest',
  'Body of POST /v2/tasks.',
);
export type TaskRequest = z.output<typeof TaskRequestSchema>;
export type TaskRequestInput = z.input<typeof TaskRequestSchema>;

export const AdmissionResponseSchema = named(
  z.strictObject({
    task_id: ClientIdSchema,
    queue_position: z.int().min(0),
    predicted_start_ms: z.int().min(0),
    backoff_ms: z.int().min(0),
    streams: z.strictObject({ sse: z.string().regex(/^\/v2\/tasks\/[^/]+\/events$/, 'must be /v2/tasks/{id}/events') }),
  }),
  'AdmissionResponse',
  '202 answer of POST /v2/tasks.',
);
export type AdmissionResponse = z.infer<typeof AdmissionResponseSchema>;
