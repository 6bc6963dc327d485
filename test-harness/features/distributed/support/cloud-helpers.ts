/**
 * Shared tools of the CLOUD profile's step files (replicas, auth, tls, discovery, metrics): per-scenario state,
 * budgets, task submission and following through other URLs or credentials than the common steps use. Registers no
 * steps; its one hook drops a scenario's state.
 */
import assert from 'node:assert/strict';
import { After } from '@cucumber/cucumber';
import type { PemPair } from '@llama-orch/tls';
import { jsonRequest, type JsonAnswer } from '../../../src/http-json.ts';
import type { NetCluster } from '../../../src/netns/index.ts';
import type { OidcIssuer } from '../../../src/oidc-issuer.ts';
import { waitFor } from '../../../src/processes.ts';
import { followEvents, summarize, within, type SseEvent } from '../../../src/sse.ts';
import type { ClusterWorld } from './world.ts';

/** How long one plain request may take (the cluster is up; nothing here waits for an engine to start). */
export const ANSWER_MS = 15_000;
/** How long a TLS handshake with a node may take before the probe counts as failed. */
export const HANDSHAKE_MS = 5_000;
/** A long task is followed this long at most; the scenario's own budget ends it sooner. */
export const LONG_FOLLOW_MS = 5 * 60_000;
/** How long a counter may lag behind the event that a client already saw (it counts the dispatch's answer). */
export const COUNTER_SETTLE_MS = 2_000;
/** The engine sampler must have looked at each engine at least this often for its maximum to mean anything. */
export const MIN_SAMPLES = 5;
export const PROMPT = 'Once upon a time';
/** A long task runs until its context is full (many seconds even unloaded); a scenario cancels it when done with it. */
export const LONG_TASK_TOKENS = 1_000_000;
/** The context of the pools of a DNS-found cluster, as the common cluster step gives: room for a long task. */
export const LONG_CTX = 16_384;
/** How long the engine of a node that just joined may take to start (2 cores, a shared build cache). */
export const ENGINE_START_MS = 120_000;

/** What these features remember beyond the World's own fields, per scenario. */
export interface AreaState {
  issuer?: OidcIssuer;
  token?: string;
  /** replicas.feature's EngineSampler (support/engine-sampler.ts, which imports this module): stopped after each scenario. */
  sampler?: { stop(): void };
  burst?: { ids: string[]; okBefore: number };
  noted: Map<string, number>;
  /** The tasks with no terminal event yet at a named moment ("the new certificate was served", ...): their tokens. */
  openAt: Map<string, Map<string, number>>;
  rotated?: { node: string; serial: string };
  /** The certificate a node had when its file was spoiled. */
  kept?: { node: string; serial: string };
  joinedAt?: number;
  client?: PemPair & { ca: string };
}
export const areas = new WeakMap<ClusterWorld, AreaState>();
export function area(world: ClusterWorld): AreaState {
  let state = areas.get(world);
  if (!state) {
    state = { noted: new Map(), openAt: new Map() };
    areas.set(world, state);
  }
  return state;
}

After(async function (this: ClusterWorld) {
  const state = areas.get(this);
  state?.sampler?.stop();
  await state?.issuer?.close();
});

export function clusterOf(world: ClusterWorld): NetCluster {
  assert.ok(world.cluster, 'no cluster: a Given step starts one first');
  return world.cluster;
}

export function lastAnswer<T>(world: ClusterWorld): JsonAnswer<T> {
  assert.ok(world.last, 'no HTTP answer yet');
  return world.last as JsonAnswer<T>;
}

/** Slack on top of a poll bound for a loaded 2-core machine (the probe's own requests, scheduling); the time taken is attached. */
export const SCHEDULING_MARGIN_MS = 1_000;
/**
 * One poll of every node plus its request timeout — the bound CLOUD-0007 and CLOUD-6003 give for a change to show in
 * orchestratord — plus the scheduling margin.
 */
export const onePoll = (cluster: NetCluster): number =>
  cluster.pollIntervalMs + cluster.requestTimeoutMs + SCHEDULING_MARGIN_MS;

export const taskBody = (
  id: string,
  maxTokens: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  task_id: id,
  model_ref: 'demo',
  prompt: PROMPT,
  max_tokens: maxTokens,
  ignore_eos: true,
  ...extra,
});

/**
 * POST /v2/tasks to `url` with `headers`, the body's logical task id sent as its wire id; the answer becomes `last`,
 * and a new task id's admission is kept.
 */
export async function submit(
  world: ClusterWorld,
  body: Record<string, unknown>,
  headers: Record<string, string>,
  url = clusterOf(world).url,
): Promise<JsonAnswer<unknown>> {
  const id = body['task_id'];
  const sent = typeof id === 'string' ? { ...body, task_id: world.wireId(id) } : body;
  const answer = await jsonRequest(`${url}/v2/tasks`, { method: 'POST', body: sent, headers, timeoutMs: ANSWER_MS });
  world.last = answer;
  if (typeof id === 'string' && answer.status === 202) world.task(id).admission = answer;
  return answer;
}

/** Follow a task's events in the background into the World's record of it (as the common follow step does). */
export function follow(
  world: ClusterWorld,
  id: string,
  headers: Record<string, string>,
  url = clusterOf(world).url,
): void {
  const record = world.task(id);
  const followed = followEvents(`${url}/v2/tasks/${world.wireId(id)}/events`, {
    headers,
    timeoutMs: LONG_FOLLOW_MS,
    onEvent: (event) => record.events.push(event),
  });
  followed.catch(() => undefined); // the step that awaits it reports its failure; the stop of the cluster ends it
  record.followed = followed;
}

export const isTerminal = (event: SseEvent): boolean => event.event === 'end' || event.event === 'error';

export const tokensOf = (events: readonly SseEvent[]): number => events.filter((e) => e.event === 'token').length;

/** Remember which tasks were still open (no terminal event) at a named moment, and how many tokens each had. */
export function markOpen(world: ClusterWorld, moment: string): void {
  const open = [...world.tasks].filter(([, r]) => !r.events.some(isTerminal));
  area(world).openAt.set(moment, new Map(open.map(([id, r]) => [id, tokensOf(r.events)])));
}

/** The task was open at `moment` and went on streaming `more` tokens after it, with no terminal event meanwhile. */
export async function streamedOn(
  world: ClusterWorld,
  id: string,
  moment: string,
  more: number,
  budgetMs: number,
): Promise<void> {
  const tokensThen = area(world).openAt.get(moment)?.get(id);
  const record = world.tasks.get(id);
  assert.ok(record, `task ${id} is not followed`);
  assert.ok(tokensThen !== undefined, `task ${id} had already ended when ${moment}: ${summarize(record.events)}`);
  await waitFor(
    `task ${id} to stream ${more} more tokens after ${moment} (it had ${tokensThen})`,
    () => {
      assert.ok(!record.events.some(isTerminal), `task ${id} ended: ${summarize(record.events)}`);
      return tokensOf(record.events) >= tokensThen + more ? true : undefined;
    },
    budgetMs,
    20,
  );
}

/**
 * Wait until the streams these steps followed (through other URLs or credentials than the common follow step's) have
 * closed, then check that each ended with exactly one terminal event, `terminal`, and nothing after it.
 */
export async function endedWith(
  world: ClusterWorld,
  ids: readonly string[],
  terminal: string,
  budgetMs: number,
): Promise<void> {
  const records = ids.map((id) => [id, world.tasks.get(id)] as const);
  await within(
    `${ids.join(', ')} to end`,
    budgetMs,
    () => Promise.all(records.map(([id, r]) => r?.followed ?? Promise.reject(new Error(`${id} is not followed`)))),
    () => records.map(([id, r]) => `${id}: ${summarize(r?.events ?? [])}`).join('; '),
  );
  const wrong = records
    .map(([id, r]) => ({ id, events: r?.events ?? [] }))
    .filter(({ events }) => events.filter(isTerminal).length !== 1 || events.at(-1)?.event !== terminal)
    .map(({ id, events }) => `${id}: ${summarize(events)}`);
  assert.deepEqual(wrong, [], `every task ends with exactly one "${terminal}" and nothing after it`);
}
