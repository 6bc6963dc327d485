import { z } from 'zod';
import { ClientIdSchema, ResourceIdSchema } from './ids.ts';
import { PoolStatusSchema } from './pool-status.ts';
import { named } from './registry.ts';
import { TaskStateSchema } from './task-status.ts';

export const OverviewTaskSchema = named(
  z.strictObject({
    task_id: ClientIdSchema,
    state: TaskStateSchema,
    model: z.string().min(1),
    priority: z.enum(['interactive', 'batch']),
    /** Once placed: the pool that runs (or ran) it. */
    pool_id: ResourceIdSchema.optional(),
    tokens_out: z.int().min(0),
    /** Output tokens per second since its first token; null before its second token. */
    tokens_per_s: z.number().min(0).nullable(),
    /** Admission to its first token (ms); null before one. */
    first_token_ms: z.int().min(0).nullable(),
    /** Since admission (ms): while live, its age; once done, how long it took. */
    age_ms: z.int().min(0),
    /** While queued: 0-based place among the tasks that start before it. */
    position: z.int().min(0).optional(),
    /** Once done: the end's finish_reason (stop, length, canceled) or the error's code. */
    outcome: z.string().min(1).optional(),
  }),
  'OverviewTask',
  'One task as the operator page shows it: state, pool, tokens so far and their rate, age; once done its outcome.',
);
export type OverviewTask = z.infer<typeof OverviewTaskSchema>;

export const OverviewPointSchema = named(
  z.strictObject({
    /** The end of the second it describes (ms since the epoch). */
    t: z.int().min(0),
    tokens_per_s: z.number().min(0),
    /** Tasks that ended in that second. */
    tasks_per_s: z.number().min(0),
    /** Admission → first token over the 10 s up to `t` (ms); null when no task had its first token then. */
    first_token_p50_ms: z.number().min(0).nullable(),
    first_token_p95_ms: z.number().min(0).nullable(),
  }),
  'OverviewPoint',
  'One second of throughput: output tokens and finished tasks per second, and first-token latency percentiles.',
);
export type OverviewPoint = z.infer<typeof OverviewPointSchema>;

export const OverviewSchema = named(
  z.strictObject({
    /** When this picture was taken (ms since the epoch). */
    at: z.int().min(0),
    version: z.string().min(1),
    /** Who is looking: only admins see other identities' tasks and may drain or reload pools. */
    viewer: z.strictObject({ label: z.string().min(1), admin: z.boolean() }),
    /** Every pool of every node, as GET /v2/pools reports them (a pool on an unreachable node is offline). */
    pools: z.array(PoolStatusSchema),
    queue: z.strictObject({
      depth: z.int().min(0),
      capacity: z.int().min(0),
      interactive: z.int().min(0),
      batch: z.int().min(0),
      /** How long the task that has waited longest has been waiting (ms); null when the queue is empty. */
      oldest_wait_ms: z.int().min(0).nullable(),
      /** Predicted start of the next queued task, ms from now; null when the queue is empty. */
      next_start_ms: z.int().min(0).nullable(),
      /** HTTP 429 answers (queue full, budgets, stream limits) in the last 60 s. */
      rejected_last_minute: z.int().min(0),
    }),
    tasks: z.strictObject({
      /** Running tasks, then queued ones in the order they will start (at most 100 shown; `live_total` counts all). */
      live: z.array(OverviewTaskSchema),
      live_total: z.int().min(0),
      /** The most recently finished tasks, newest first (at most 50). */
      finished: z.array(OverviewTaskSchema),
    }),
    /**
     * One point per second, oldest first: the last 5 minutes in GET /v2/overview and in the stream's first event;
     * each later event of the stream carries only the points added since the one before.
     */
    throughput: z.array(OverviewPointSchema),
  }),
  'Overview',
  'What the operator page (/ui) shows: nodes and pools, the queue, live and finished tasks, and throughput over the last minutes.',
);
export type Overview = z.infer<typeof OverviewSchema>;
