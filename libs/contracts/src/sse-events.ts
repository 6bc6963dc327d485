import { z } from 'zod';
import { ErrorCodeSchema } from './errors.ts';
import { ResourceIdSchema } from './ids.ts';
import { LoadProgressSchema } from './pool-status.ts';
import { named } from './registry.ts';
import { validate, type Validated } from './validate.ts';

export const StartedEventSchema = named(
  z.strictObject({
    queue_position: z.int().min(0),
    predicted_start_ms: z.int().min(0),
    pool_id: ResourceIdSchema.optional(),
    replica_id: ResourceIdSchema.optional(),
    engine_version: z.string().optional(),
  }),
  'StartedEvent',
  'First event of a task stream: the task left the queue and runs on a pool.',
);

export const TokenEventSchema = named(
  z.strictObject({ t: z.string(), i: z.int().min(0) }),
  'TokenEvent',
  'One token of output text; i counts from 0.',
);

export const MetricsEventSchema = named(
  z.looseObject({
    queue_depth: z.int().min(0).optional(),
    on_time_probability: z.number().min(0).max(1).optional(),
    kv_warmth: z.boolean().optional(),
    tokens_out: z.int().min(0).optional(),
    tokens_per_s: z.number().min(0).optional(),
    tokens_budget_remaining: z.int().optional(),
    time_budget_remaining_ms: z.int().optional(),
  }),
  'MetricsEvent',
  'Progress figures, interleaved with tokens; additive (unknown keys allowed).',
);

export const EndEventSchema = named(
  z.strictObject({
    tokens_out: z.int().min(0),
    decode_ms: z.int().min(0),
    tokens_in: z.int().min(0).optional(),
    finish_reason: z.enum(['stop', 'length', 'canceled']).optional(),
    /** workload embedding: one vector per input, in order. */
    embeddings: z.array(z.array(z.number())).optional(),
    /** workload rerank: the inputs by relevance to the prompt, best first. */
    results: z.array(z.strictObject({ index: z.int().min(0), relevance_score: z.number() })).optional(),
  }),
  'EndEvent',
  'Terminal event of a task that finished or was canceled.',
);

export const ErrorEventSchema = named(
  z.strictObject({
    code: ErrorCodeSchema,
    message: z.string().min(1),
    retriable: z.boolean(),
    retry_after_ms: z.int().min(0).optional(),
  }),
  'ErrorEvent',
  'Terminal event of a task that failed; nothing follows it.',
);

export const LoadingEventSchema = named(
  z.strictObject({ pool_id: ResourceIdSchema, ...LoadProgressSchema.shape }),
  'LoadingEvent',
  'While a queued task waits for the pool loaded on demand that will run it: where the load stands (issue 18). Sent when it changes, at most every 500 ms; not a terminal event.',
);

export const QueuedEventSchema = named(
  z.strictObject({
    position: z.int().min(0),
    predicted_start_ms: z.int().min(0),
    queue_depth: z.int().min(0),
  }),
  'QueuedEvent',
  'While a task waits in the admission queue: its 0-based place among the tasks that start before it, when it is predicted to start (ms from now, from the measured service times of the pools serving its model) and the queue depth. Sent to a stream that asks for it (GET /v2/tasks/{id}/events?queued=true) when it opens and every 2 s while the task waits; not a terminal event, never recorded in the replayed log.',
);

export const TaskEventSchema = named(
  z.discriminatedUnion('event', [
    z.strictObject({ event: z.literal('queued'), data: QueuedEventSchema }),
    z.strictObject({ event: z.literal('loading'), data: LoadingEventSchema }),
    z.strictObject({ event: z.literal('started'), data: StartedEventSchema }),
    z.strictObject({ event: z.literal('token'), data: TokenEventSchema }),
    z.strictObject({ event: z.literal('metrics'), data: MetricsEventSchema }),
    z.strictObject({ event: z.literal('end'), data: EndEventSchema }),
    z.strictObject({ event: z.literal('error'), data: ErrorEventSchema }),
  ]),
  'TaskEvent',
  'One SSE event of GET /v2/tasks/{id}/events: the SSE `event:` name and its JSON `data:`.',
);
export type TaskEvent = z.infer<typeof TaskEventSchema>;
export type EndEvent = z.infer<typeof EndEventSchema>;
export type LoadingEvent = z.infer<typeof LoadingEventSchema>;
export type QueuedEvent = z.infer<typeof QueuedEventSchema>;
export type TaskEventName = TaskEvent['event'];
export const terminalEvents: ReadonlySet<TaskEventName> = new Set(['end', 'error']);

/** Parse one SSE frame (event name + data text) into a validated event. */
export function parseTaskEvent(event: string, data: string): Validated<TaskEvent> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    json = undefined;
  }
  return validate(TaskEventSchema, { event, data: json });
}
