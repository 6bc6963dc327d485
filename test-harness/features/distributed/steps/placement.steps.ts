/**
 * Steps of cancel.feature, sessions.feature and placement.feature: where a task runs (pin, prefer, avoid, session
 * affinity, load) and how it ends when its client cancels it or leaves.
 */
import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import type { ErrorEnvelope, SessionInfo } from '@llama-orch/contracts';
import { jsonRequest } from '../../../src/http-json.ts';
import { waitFor } from '../../../src/processes.ts';
import { followEvents, summarize, type SseEvent } from '../../../src/sse.ts';
import type { NetCluster } from '../../../src/netns/index.ts';
import type { ClusterWorld } from '../support/world.ts';

/** How long one plain request may take (the cluster is up; nothing here waits for an engine to start). */
const ANSWER_MS = 15_000;
/** How long a task on a free slot may take to send its first token (2 cores shared with every engine). */
const FIRST_TOKEN_MS = 30_000;
/** How long a short task on a free slot may take from submission to its end. */
const SHORT_TASK_MS = 30_000;
/** How long orchestratord's polls may take to show every pool idle once the tasks before have ended. */
const POOLS_IDLE_MS = 15_000;
/** A background follow's own limit: the steps that wait on its events have the real budgets. */
const FOLLOW_MS = 10 * 60_000;
/** Margin over ORCH-4005's "one poll plus the request timeout" for a loaded 2-core machine. */
const POLL_MARGIN_MS = 2_000;
const SHORT_TOKENS = 8;

/** A client that followed a task and left: when, and what it had seen. */
interface Leaver {
  readonly leftAt: number;
  readonly seen: readonly SseEvent[];
}
const leavers = new WeakMap<ClusterWorld, Map<string, Leaver>>();
function leaverOf(world: ClusterWorld, id: string): Leaver {
  const leaver = leavers.get(world)?.get(id);
  assert.ok(leaver, `no client of task ${id} left its stream in this scenario`);
  return leaver;
}

function clusterOf(world: ClusterWorld): NetCluster {
  assert.ok(world.cluster, 'no cluster: a Given step starts one first');
  return world.cluster;
}

/** `pin p2`, `prefer p2`, `prefer p2, no fallback`, `avoid p1` → the task's placement field. */
function placementOf(text: string): Record<string, unknown> {
  const match = /^(pin|prefer|avoid) ([a-z0-9-]+)(, no fallback)?$/.exec(text);
  assert.ok(match?.[1] && match[2], `placement "${text}" is not "pin|prefer|avoid <pool>[, no fallback]"`);
  const [, mode, pool, strict] = match;
  const fallback = strict === undefined ? {} : { allow_fallback: false };
  if (mode === 'pin') return { mode: 'pin', pin_pool_id: pool, ...fallback };
  if (mode === 'prefer') return { mode: 'prefer', prefer_pools: [pool], ...fallback };
  return { mode: 'auto', avoid_pools: [pool], ...fallback };
}

/** Runs until canceled (no end of text; minutes until its context is full): it holds its slot. `id` is logical. */
const endless = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  task_id: id,
  model_ref: 'demo',
  prompt: 'Go on:',
  max_tokens: 1_000_000,
  ignore_eos: true,
  ...extra,
});
const short = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  task_id: id,
  model_ref: 'demo',
  prompt: 'Once upon a time',
  max_tokens: SHORT_TOKENS,
  ...extra,
});

/**
 * POST /v2/tasks with the client key, the body's logical task id sent as its wire id; the answer becomes `last` and
 * the task's admission.
 */
async function submit(world: ClusterWorld, body: Record<string, unknown>): Promise<void> {
  const cluster = clusterOf(world);
  const id = String(body['task_id']);
  const answer = await jsonRequest(`${cluster.url}/v2/tasks`, {
    method: 'POST',
    body: { ...body, task_id: world.wireId(id) },
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
  world.last = answer;
  world.task(id).admission = answer;
}

async function submitAdmitted(world: ClusterWorld, body: Record<string, unknown>): Promise<void> {
  await submit(world, body);
  assert.equal(world.last?.status, 202, `task ${String(body['task_id'])}: ${JSON.stringify(world.last?.body)}`);
}

/**
 * Follow a task's events into its record, for tasks these steps alone look at (`ran on pool` reads them too).
 * The common `I follow the events of task` does this for tasks whose end a scenario checks.
 */
function followQuietly(world: ClusterWorld, id: string): void {
  const cluster = clusterOf(world);
  const record = world.task(id);
  assert.equal(record.followed, undefined, `task ${id} is followed already`);
  record.followed = followEvents(`${cluster.url}/v2/tasks/${world.wireId(id)}/events`, {
    headers: cluster.auth,
    timeoutMs: FOLLOW_MS,
    onEvent: (event) => record.events.push(event),
  });
  record.followed.catch(() => undefined); // the steps waiting on its events report what it saw
}

function eventsOf(world: ClusterWorld, id: string): SseEvent[] {
  const record = world.tasks.get(id);
  assert.ok(record, `task ${id} was never submitted or followed`);
  return record.events;
}

const poolOf = (events: readonly SseEvent[]): string | undefined =>
  events[0]?.event === 'started' ? String(events[0].data['pool_id']) : undefined;
const tokens = (events: readonly SseEvent[]): number => events.filter((e) => e.event === 'token').length;
const terminal = (events: readonly SseEvent[]): SseEvent | undefined =>
  events.find((e) => e.event === 'end' || e.event === 'error');

/** Wait until a task's events so far satisfy `probe`; the failure says what they were. */
async function waitForEvents(
  world: ClusterWorld,
  id: string,
  what: string,
  budgetMs: number,
  probe: (events: SseEvent[]) => boolean,
): Promise<void> {
  const events = eventsOf(world, id);
  await waitFor(`task ${id}: ${what}`, () => (probe(events) ? true : undefined), budgetMs, 20).catch(
    (error: unknown) => {
      throw new Error(`${(error as Error).message}; saw: ${summarize(events)}`, { cause: error });
    },
  );
}

/** Submit a short task and follow it to its `end`. */
async function run(world: ClusterWorld, body: Record<string, unknown>): Promise<void> {
  const id = String(body['task_id']);
  await submitAdmitted(world, body);
  followQuietly(world, id);
  await waitForEvents(world, id, 'its end', SHORT_TASK_MS, (events) => terminal(events) !== undefined);
  assert.equal(terminal(eventsOf(world, id))?.event, 'end', summarize(eventsOf(world, id)));
}

/** orchestratord's `queue_depth` gauge, summed over priorities. */
async function queueDepth(cluster: NetCluster): Promise<number> {
  const answer = await fetch(`${cluster.url}/metrics`, { signal: AbortSignal.timeout(ANSWER_MS) });
  const text = await answer.text();
  return [...text.matchAll(/^queue_depth\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

// Submitting tasks and where they run.

When('I submit the endless task {string}', async function (this: ClusterWorld, id: string) {
  await submitAdmitted(this, endless(id));
});

When(
  'I submit the endless task {string} with placement {string}',
  async function (this: ClusterWorld, id: string, placement: string) {
    await submitAdmitted(this, endless(id, { placement: placementOf(placement) }));
  },
);

When('I submit the endless tasks {string}', async function (this: ClusterWorld, ids: string) {
  for (const id of ids.split(',')) {
    await submitAdmitted(this, endless(id));
    followQuietly(this, id);
  }
});

When(
  'I submit task {string} with placement {string}',
  async function (this: ClusterWorld, id: string, placement: string) {
    await submit(this, short(id, { placement: placementOf(placement) }));
  },
);

When('I run task {string} without a session', async function (this: ClusterWorld, id: string) {
  await run(this, short(id));
});

When('I run task {string} with placement {string}', async function (this: ClusterWorld, id: string, placement: string) {
  await run(this, short(id, { placement: placementOf(placement) }));
});

When(
  'task {string} is streaming tokens on pool {string}',
  async function (this: ClusterWorld, id: string, pool: string) {
    await waitForEvents(this, id, 'a token', FIRST_TOKEN_MS, (events) => tokens(events) > 0);
    assert.equal(poolOf(eventsOf(this, id)), pool, summarize(eventsOf(this, id)));
  },
);

Then(
  'the tasks {string} stream tokens on pools {string} in some order',
  async function (this: ClusterWorld, ids: string, pools: string) {
    const ran: string[] = [];
    for (const id of ids.split(',')) {
      await waitForEvents(this, id, 'a token', FIRST_TOKEN_MS, (events) => tokens(events) > 0);
      ran.push(poolOf(eventsOf(this, id)) ?? 'none');
    }
    assert.deepEqual([...ran].sort(), pools.split(',').sort(), `the tasks ran on ${ran.join(',')}`);
  },
);

Then('task {string} is still queued', async function (this: ClusterWorld, id: string) {
  const admission = this.tasks.get(id)?.admission;
  assert.equal(admission?.status, 202, `task ${id} was admitted: ${JSON.stringify(admission?.body)}`);
  const events = eventsOf(this, id);
  assert.equal(events.length, 0, `task ${id} has not started: ${summarize(events)}`);
  assert.ok((await queueDepth(clusterOf(this))) >= 1, 'orchestratord counts a queued task');
});

When('every pool is idle', async function (this: ClusterWorld) {
  await clusterOf(this).waitForPools(
    (pools) => pools.length > 0 && pools.every((p) => p.ready && p.slots_free === p.slots_total),
    'every pool ready and idle',
    POOLS_IDLE_MS,
  );
});

When(
  'node {string} is partitioned and its pool has left placement',
  async function (this: ClusterWorld, nodeId: string) {
    const cluster = clusterOf(this);
    const before = await cluster.waitForPools(() => true, 'the pools', ANSWER_MS);
    const theirs = new Set(before.filter((p) => p.node_id === nodeId).map((p) => p.pool_id));
    assert.ok(theirs.size > 0, `node ${nodeId} has pools: ${JSON.stringify(before)}`);
    await cluster.node(nodeId).partition();
    await cluster.waitForPools(
      (pools) => pools.filter((p) => theirs.has(p.pool_id)).every((p) => !p.ready),
      `the pools of ${nodeId} to leave placement`,
      cluster.pollIntervalMs + cluster.requestTimeoutMs + POLL_MARGIN_MS,
    );
  },
);

Then('the refusal names pool {string} and may be retried', function (this: ClusterWorld, pool: string) {
  const body = this.last?.body as ErrorEnvelope | undefined;
  assert.match(body?.message ?? '', new RegExp(`\\b${pool}\\b`), JSON.stringify(body));
  assert.equal(body?.retriable, true, JSON.stringify(body));
});

// Cancel, and clients that leave.

When('I cancel task {string}', async function (this: ClusterWorld, id: string) {
  const cluster = clusterOf(this);
  this.last = await jsonRequest(`${cluster.url}/v2/tasks/${this.wireId(id)}/cancel`, {
    method: 'POST',
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
});

Then('task {string} was canceled before it started', function (this: ClusterWorld, id: string) {
  const events = eventsOf(this, id);
  assert.equal(summarize(events), 'end', 'a task canceled in the queue never starts');
  assert.equal(events[0]?.data['finish_reason'], 'canceled');
  assert.equal(events[0]?.data['tokens_out'], 0);
});

Then(
  'task {string} was canceled after streaming, with no token after its end',
  function (this: ClusterWorld, id: string) {
    const events = eventsOf(this, id);
    const end = terminal(events);
    assert.equal(events[0]?.event, 'started', summarize(events));
    assert.ok(tokens(events) > 0, `it streamed: ${summarize(events)}`);
    assert.equal(end?.event, 'end', summarize(events));
    assert.equal(end.data['finish_reason'], 'canceled');
    assert.equal(end.data['tokens_out'], tokens(events), 'tokens_out counts exactly the tokens sent');
    assert.equal(events.at(-1), end, `nothing follows the end: ${summarize(events)}`);
  },
);

When(
  'a client follows task {string} until it streams tokens, then leaves',
  async function (this: ClusterWorld, id: string) {
    const cluster = clusterOf(this);
    const leaving = new AbortController();
    const seen: SseEvent[] = [];
    const followed = followEvents(`${cluster.url}/v2/tasks/${this.wireId(id)}/events`, {
      headers: cluster.auth,
      timeoutMs: FIRST_TOKEN_MS,
      signal: leaving.signal,
      onEvent: (event) => {
        seen.push(event);
        if (tokens(seen) >= 3) leaving.abort();
      },
    });
    await followed; // resolves with what was seen once the client leaves; fails if no token came in time
    const perWorld = leavers.get(this) ?? new Map<string, Leaver>();
    leavers.set(this, perWorld);
    perWorld.set(id, { leftAt: Date.now(), seen });
    assert.ok(tokens(seen) >= 3 && terminal(seen) === undefined, `the client left mid-stream: ${summarize(seen)}`);
  },
);

Then(
  'task {string} starts no sooner than {int} ms after the client of task {string} left',
  async function (this: ClusterWorld, id: string, graceMs: number, leaver: string) {
    const { leftAt } = leaverOf(this, leaver);
    // Seen within 20 ms of its arrival, which comes after the start: a start before the grace shows as one.
    await waitForEvents(this, id, 'its start', graceMs + FIRST_TOKEN_MS, (events) =>
      events.some((e) => e.event === 'started'),
    );
    const seenAfterMs = Date.now() - leftAt;
    assert.ok(seenAfterMs >= graceMs, `task ${id} started ${seenAfterMs} ms after the client of ${leaver} left`);
  },
);

Then(
  'task {string} still streams tokens {int} ms after the client left',
  async function (this: ClusterWorld, id: string, afterMs: number) {
    const { leftAt } = leaverOf(this, id);
    const events = eventsOf(this, id);
    let countAtDeadline: number | null = null;
    await waitForEvents(this, id, `a token ${afterMs} ms after its client left`, afterMs + FIRST_TOKEN_MS, () => {
      const end = terminal(events);
      assert.equal(
        end,
        undefined,
        `task ${id} ended ${Date.now() - leftAt} ms after its client left with ${end?.event} ${JSON.stringify(end?.data)} after ${tokens(events)} tokens`,
      );
      if (countAtDeadline === null && Date.now() - leftAt >= afterMs) countAtDeadline = tokens(events);
      return countAtDeadline !== null && tokens(events) > countAtDeadline;
    });
  },
);

Then(
  'the events of task {string} replay what the client saw before it left, then go on',
  function (this: ClusterWorld, id: string) {
    const { seen } = leaverOf(this, id);
    const events = eventsOf(this, id);
    assert.deepEqual(events.slice(0, seen.length), seen, 'the reconnected stream replays what was seen');
    assert.ok(tokens(events) > tokens(seen), `more tokens after the reconnect: ${summarize(events)}`);
  },
);

// Sessions.

When('I run turn {string} of session {string}', async function (this: ClusterWorld, id: string, session: string) {
  await run(this, short(id, { session_id: session }));
});

When(
  'I run turn {string} of session {string} pinned to pool {string}',
  async function (this: ClusterWorld, id: string, session: string, pool: string) {
    await run(this, short(id, { session_id: session, placement: { mode: 'pin', pin_pool_id: pool } }));
  },
);

Then(
  'session {string} has {int} turn(s) on pool {string} with a warm KV cache',
  async function (this: ClusterWorld, session: string, turns: number, pool: string) {
    const cluster = clusterOf(this);
    const answer = await jsonRequest<SessionInfo>(`${cluster.url}/v2/sessions/${session}`, {
      headers: cluster.auth,
      timeoutMs: ANSWER_MS,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.session_id, session);
    assert.equal(answer.body.turns, turns, JSON.stringify(answer.body));
    assert.equal(answer.body.pool_id, pool, JSON.stringify(answer.body));
    assert.equal(answer.body.kv_warmth, true, JSON.stringify(answer.body));
  },
);

When('I read session {string}', async function (this: ClusterWorld, session: string) {
  const cluster = clusterOf(this);
  this.last = await jsonRequest(`${cluster.url}/v2/sessions/${session}`, {
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
});

When('I delete session {string}', async function (this: ClusterWorld, session: string) {
  const cluster = clusterOf(this);
  this.last = await jsonRequest(`${cluster.url}/v2/sessions/${session}`, {
    method: 'DELETE',
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
});
