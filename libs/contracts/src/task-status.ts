import { z } from 'zod';
import { ClientIdSchema, ResourceIdSchema } from './ids.ts';
import { named } from './registry.ts';

export const TaskStateSchema = named(
  z.enum(['queued', 'running', 'ended', 'failed', 'canceled']),
  'TaskState',
  'Where a task stands: waiting in the admission queue, running on a pool, or done — ended (an end event), failed (an error event) or canceled.',
);
export type TaskStateName = z.infer<typeof TaskStateSchema>;

export const TaskStatusSchema = named(
  z.strictObject({
    task_id: ClientIdSchema,
    state: TaskStateSchema,
    /** While queued: 0-based place among the tasks that start before it. */
    position: z.int().min(0).optional(),
    /** While queued: predicted start, ms from now (the same model as the 202's predicted_start_ms). */
    predicted_start_ms: z.int().min(0).optional(),
    /** Once placed: the pool that runs (or ran) it. */
    pool_id: ResourceIdSchema.optional(),
    tokens_out: z.int().min(0),
    /** Prompt tokens, once the engine has said (at the end). */
    tokens_in: z.int().min(0).optional(),
    /** Once done: the end's finish_reason (stop, length, canceled) or the error's code. */
    outcome: z.string().min(1).optional(),
  }),
  'TaskStatus',
  'Answer of GET /v2/tasks/{id}: the task state; while queued its position and predicted start (ms from now), once placed its pool, once done its outcome (finish_reason of the end, or the error code).',
);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;
