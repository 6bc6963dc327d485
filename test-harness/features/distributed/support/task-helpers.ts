/**
 * Shared tools of tasks.steps.ts, openai.steps.ts and admission.steps.ts: budgets, per-scenario state, task
 * submission and the streams these steps follow themselves. Registers no steps.
 */
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { jsonRequest, type JsonAnswer } from '../../../src/http-json.ts';
import { followEvents, STREAM_BUDGET_MS, type SseEvent } from '../../../src/sse.ts';
import type { ClusterWorld } from './world.ts';

/** How long one plain request may take (the cluster is up; nothing here waits for an engine to start). */
export const ANSWER_MS = 15_000;
/** How long a never-ending task may take to send its first token. */
export const FIRST_TOKEN_MS = 20_000;
/** How long a running task may pause between tokens before it no longer counts as streaming. */
export const STILL_STREAMING_MS = 5_000;
/** A never-ending task is followed this long at most; the cluster's stop ends it sooner. */
export const ENDLESS_FOLLOW_MS = 10 * 60_000;

/**
 * What these features remember beyond the World's own fields, per scenario. Streams these steps follow themselves
 * (a task that holds the slot, a shared timeline) are kept here, apart from the World's task records, which belong
 * to the common follow step.
 */
export interface AreaState {
  /** `<task>:<event>` in arrival order, over every stream followed on the one timeline. */
  readonly timeline: string[];
  /** Events of the tasks these steps follow themselves. */
  readonly streams: Map<string, SseEvent[]>;
  stream?: { pieces: number; finish: string | null; completionTokens: number | null };
  models?: string[];
}
export const areas = new WeakMap<ClusterWorld, AreaState>();
export function area(world: ClusterWorld): AreaState {
  let state = areas.get(world);
  if (!state) {
    state = { timeline: [], streams: new Map() };
    areas.set(world, state);
  }
  return state;
}

export function lastAnswer<T>(world: ClusterWorld): JsonAnswer<T> {
  assert.ok(world.last, 'no HTTP answer yet');
  return world.last as JsonAnswer<T>;
}

/** A task that runs until its context is full (minutes with a large context): it holds its slot. `id` is logical. */
export const endless = (id: string): Record<string, unknown> => ({
  task_id: id,
  model_ref: 'demo',
  prompt: 'Go on:',
  max_tokens: 1_000_000,
  ignore_eos: true,
});

/**
 * POST /v2/tasks with the client key, the body's logical task id sent as its wire id; the answer becomes `last`, and
 * the first answer for a task id its admission.
 */
export async function submitTask(world: ClusterWorld, body: Record<string, unknown>): Promise<JsonAnswer<unknown>> {
  const cluster = world.running;
  const id = body['task_id'];
  const answer = await jsonRequest(`${cluster.url}/v2/tasks`, {
    method: 'POST',
    body: typeof id === 'string' ? { ...body, task_id: world.wireId(id) } : body,
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
  world.last = answer;
  if (typeof id === 'string') world.task(id).admission ??= answer;
  return answer;
}

/** Follow a task's events in the background into this area's own record; the cluster's stop ends the stream. */
export function followOwn(
  world: ClusterWorld,
  id: string,
  timeoutMs: number,
  onEvent?: (event: SseEvent) => void,
): void {
  const cluster = world.running;
  const events: SseEvent[] = [];
  area(world).streams.set(id, events);
  followEvents(`${cluster.url}/v2/tasks/${encodeURIComponent(world.wireId(id))}/events`, {
    headers: cluster.auth,
    timeoutMs,
    onEvent: (event) => {
      events.push(event);
      onEvent?.(event);
    },
  }).catch(() => undefined); // what it saw is what the steps check; a cut stream shows there
}

/** The events seen of a task: from this area's own follow, or else from the common follow step. */
export function eventsOf(world: ClusterWorld, id: string): SseEvent[] {
  const own = area(world).streams.get(id);
  if (own) return own;
  const record = world.tasks.get(id);
  assert.ok(record?.followed, `task ${id} is not followed: a step "I follow the events of task" comes first`);
  return record.events;
}

export const tokenCount = (events: readonly SseEvent[]): number => events.filter((e) => e.event === 'token').length;

export function openaiClient(world: ClusterWorld): OpenAI {
  const cluster = world.running;
  return new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: cluster.apiKey, maxRetries: 0, timeout: STREAM_BUDGET_MS });
}
