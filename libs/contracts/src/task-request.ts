import { z } from 'zod';
import { ClientIdSchema, ResourceIdSchema } from './ids.ts';
import { named } from './registry.ts';
import { SessionBudgetSchema } from './sessions.ts';

export const PrioritySchema = named(
  z.enum(['interactive', 'batch']),
  'Priority',
  'interactive tasks start before batch tasks.',
);
export type Priority = z.infer<typeof PrioritySchema>;

/** A set of devices: `cpu` (a pool without GPUs) or GPU indexes, comma-separated (`0,1` = GPUs 0 and 1). */
export const DeviceMaskSchema = named(
  z
    .string()
    .regex(/^(cpu|\d{1,3}(,\d{1,3})*)$/, 'must be "cpu" or GPU indexes separated by commas, such as "0,1"')
    .refine((mask) => new Set(mask.split(',')).size === mask.split(',').length, 'must not repeat a GPU index'),
  'DeviceMask',
  'The devices a pool must run on, exactly: "cpu" or GPU indexes such as "0,1" (GPUs 0 and 1, in any order).',
);

/** The GPU indexes of a device mask, ascending; `cpu` is the empty set. */
export function deviceMaskIndexes(mask: string): number[] {
  return mask === 'cpu'
    ? []
    : mask
        .split(',')
        .map(Number)
        .sort((a, b) => a - b);
}

export const PlacementSchema = named(
  z
    .strictObject({
      mode: z.enum(['pin', 'prefer', 'auto']).default('auto'),
      pin_pool_id: ResourceIdSchema.optional(),
      prefer_pools: z.array(ResourceIdSchema).max(64).optional(),
      avoid_pools: z.array(ResourceIdSchema).max(64).optional(),
      allow_fallback: z.boolean().default(true),
      require_device_mask: DeviceMaskSchema.optional(),
      node_id: ResourceIdSchema.optional(),
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
  'Placement overrides: pin to one pool, prefer some pools, avoid others; require_device_mask keeps only pools on ' +
    'exactly those devices; node_id keeps only the pools of one node (unknown node: 503 NODE_UNAVAILABLE).',
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

/** The contract's engines; this product serves llamacpp (orchestratord names what it serves when refusing one). */
export const TASK_ENGINES = ['llamacpp', 'vllm', 'tgi', 'triton'] as const;
export const TASK_WORKLOADS = ['completion', 'embedding', 'rerank'] as const;
/** Sampler profiles this build has: v1 = the engine's sampler chain with the request's sampling fields, verbatim. */
export const SAMPLER_PROFILE_VERSIONS = ['v1'] as const;

export const TaskRequestSchema = named(
  z
    .strictObject({
      task_id: ClientIdSchema.optional(),
      session_id: ClientIdSchema.optional(),
      workload: z.enum(TASK_WORKLOADS).default('completion'),
      model_ref: z.string().min(1),
      engine: z.enum(TASK_ENGINES).default('llamacpp'),
      prompt: z.string().optional(),
      messages: z.array(ChatMessageSchema).min(1).optional(),
      inputs: z.array(z.string()).min(1).max(2048).optional(),
      max_tokens: z.int().min(1).max(1_000_000).default(256),
      priority: PrioritySchema.default('interactive'),
      deadline_ms: z.int().min(1).optional(),
      ctx: z.int().min(0).optional(),
      expected_tokens: z.int().min(0).optional(),
      kv_hint: z.enum(['reuse', 'cold']).optional(),
      determinism: z.enum(['strict', 'best_effort']).default('best_effort'),
      sampler_profile_version: z
        .enum(SAMPLER_PROFILE_VERSIONS, {
          error: `unknown sampler profile; this deployment has ${SAMPLER_PROFILE_VERSIONS.join(', ')}`,
        })
        .optional(),
      output_mode: z.enum(['text', 'json', 'edits']).default('text'),
      placement: PlacementSchema.optional(),
      session_budget: SessionBudgetSchema.optional(),
      ...SAMPLING,
    })
    .superRefine((task, ctx) => {
      const issue = (path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message });
      if (task.workload === 'completion') {
        if ((task.prompt === undefined) === (task.messages === undefined))
          issue('prompt', 'give exactly one of prompt or messages');
        if (task.inputs !== undefined) issue('inputs', 'only for workload embedding or rerank');
      } else {
        if (task.inputs === undefined) issue('inputs', `required for workload ${task.workload}`);
        if (task.messages !== undefined) issue('messages', 'only for workload completion');
        if (task.workload === 'rerank' && task.prompt === undefined)
          issue('prompt', 'required for workload rerank (the query)');
        if (task.workload === 'embedding' && task.prompt !== undefined)
          issue('prompt', 'not for workload embedding; give inputs');
      }
      if (task.determinism === 'strict' && task.seed === undefined)
        issue('seed', 'required when determinism is "strict"');
      if (task.output_mode === 'json' && task.grammar !== undefined)
        issue('grammar', 'output_mode "json" sets the JSON grammar itself; leave out grammar');
      if (task.session_budget !== undefined && task.session_id === undefined)
        issue('session_budget', 'needs session_id (budgets belong to a session)');
    }),
  'TaskRequest',
  'Body of POST /v2/tasks: the llama-orch TaskRequestV2 contract. Defaults: workload completion, engine llamacpp, ' +
    'priority interactive, max_tokens 256, determinism best_effort, output_mode text; task_id generated. ' +
    'determinism "strict" needs seed.',
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
