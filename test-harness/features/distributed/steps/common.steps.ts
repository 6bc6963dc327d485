/**
 * The common steps of the distributed suite (the contract every feature shares): configure and start a cluster,
 * submit and follow tasks, and check how they ended, where they ran and what the last answer was.
 */
import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import { jsonRequest } from '../../../src/http-json.ts';
import type { NodeSpec } from '../../../src/netns/index.ts';
import { waitFor } from '../../../src/processes.ts';
import { followEvents, summarize, type SseEvent } from '../../../src/sse.ts';
import { composePoolIds, composeTarget } from '../support/compose-target.ts';
import type { ClusterWorld, TaskRecord } from '../support/world.ts';

/** The context of the pools of `a cluster of N nodes`: room for tasks that must still be running later. */
const CLUSTER_CTX = 16_384;
/** How long a submission may take to be answered. */
const SUBMIT_BUDGET_MS = 15_000;
/** A background follow's own limit: a scenario's `ends … within` step is the real budget; stop() ends it sooner. */
const FOLLOW_BUDGET_MS = 10 * 60_000;
/** How long a task may take to say where it started. */
const STARTED_BUDGET_MS = 30_000;
/** After its terminal event, how long the server may take to close the stream (nothing may come in between). */
const CLOSE_BUDGET_MS = 5_000;
const PROMPT = 'Once upon a time';

const isTerminal = (e: SseEvent): boolean => e.event === 'end' || e.event === 'error';

Given('{int} orchestratord replica(s)', function (this: ClusterWorld, count: number) {
  assert.equal(this.cluster, undefined, 'replicas are configured before the cluster step');
  this.orchestrators = count;
});

Given('orchestratord is configured with {string}', function (this: ClusterWorld, settings: string) {
  assert.equal(this.cluster, undefined, 'orchestratord is configured before the cluster step');
  for (const entry of settings.split(',')) {
    const at = entry.indexOf('=');
    assert.ok(at > 0, `"${entry}" is not K=V`);
    this.orchestratordEnv[entry.slice(0, at).trim()] = entry.slice(at + 1).trim();
  }
});

Given(
  'a cluster of {int} node(s) with {int} slot(s) each',
  async function (this: ClusterWorld, n: number, slots: number) {
    const nodes: NodeSpec[] = Array.from({ length: n }, (_, i) => ({
      id: `n${i + 1}`,
      pools: [{ id: `p${i + 1}`, slots, ctx: CLUSTER_CTX }],
    }));
    await this.startCluster(nodes);
  },
);

Given('a cluster with pools {string}', async function (this: ClusterWorld, layout: string) {
  const nodes = new Map<string, NodeSpec['pools'][number][]>();
  for (const entry of layout.split(',')) {
    const match = /^\s*([a-z0-9-]+):([a-z0-9-]+)=(\d+)\s*$/.exec(entry);
    assert.ok(match, `"${entry}" is not node:pool=slots`);
    const [, node = '', pool = '', slots = '0'] = match;
    nodes.set(node, [...(nodes.get(node) ?? []), { id: pool, slots: Number(slots), ctx: CLUSTER_CTX }]);
  }
  await this.startCluster([...nodes].map(([id, pools]) => ({ id, pools })));
});

async function submit(world: ClusterWorld, id: string, maxTokens: number, priority?: string): Promise<void> {
  const cluster = world.running;
  const answer = await jsonRequest(`${cluster.url}/v2/tasks`, {
    method: 'POST',
    headers: cluster.auth,
    body: {
      task_id: world.wireId(id),
      model_ref: 'demo',
      prompt: PROMPT,
      max_tokens: maxTokens,
      ...(priority === undefined ? {} : { priority }),
    },
    timeoutMs: SUBMIT_BUDGET_MS,
  });
  world.last = answer;
  world.task(id).admission = answer;
}

When('I submit task {string} with {int} max tokens', async function (this: ClusterWorld, id: string, max: number) {
  await submit(this, id, max);
});

/** Refusals a client that follows the contract tries again (a retriable 503 names how long to wait), at most. */
const CLIENT_RETRIES = 5;

When(
  'I submit task {string} with {int} max tokens, retrying a retriable refusal after the time it names',
  async function (this: ClusterWorld, id: string, max: number) {
    // A pool whose node missed one poll (a loaded machine) is out of placement for a round: the 503 says so and
    // when to come back, and a client does.
    for (let attempt = 0; attempt < CLIENT_RETRIES; attempt += 1) {
      await submit(this, id, max);
      const { status, body } = this.last ?? { status: 0, body: null };
      const refusal = body as { retriable?: boolean; retry_after_ms?: number } | null;
      if (status !== 503 || refusal?.retriable !== true) return;
      await new Promise((resolve) => setTimeout(resolve, refusal.retry_after_ms ?? 1_000));
    }
  },
);

When(
  'I submit task {string} with {int} max tokens and priority {string}',
  async function (this: ClusterWorld, id: string, max: number, priority: string) {
    await submit(this, id, max, priority);
  },
);

interface FollowState {
  settled: boolean;
  error: unknown;
}
/** Whether a background follow has finished, and how: the steps wait on this, never on the promise alone. */
const follows = new WeakMap<TaskRecord, FollowState>();

/** Start following a task's events in the background (once); its admission, when there was one, was a 202. */
function follow(world: ClusterWorld, id: string): TaskRecord {
  const record = world.task(id);
  if (record.followed !== undefined) return record;
  const admission = record.admission;
  if (admission !== undefined)
    assert.equal(admission.status, 202, `task ${id} was not admitted: ${JSON.stringify(admission.body)}`);
  const cluster = world.running;
  record.followed = followEvents(`${cluster.url}/v2/tasks/${encodeURIComponent(world.wireId(id))}/events`, {
    headers: cluster.auth,
    timeoutMs: FOLLOW_BUDGET_MS,
    onEvent: (event) => record.events.push(event),
  });
  const state: FollowState = { settled: false, error: undefined };
  follows.set(record, state);
  record.followed.then(
    () => (state.settled = true),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return record;
}

When('I follow the events of task {string}', function (this: ClusterWorld, id: string) {
  follow(this, id);
});

Then(
  'task {string} ends with {string} within {int} seconds',
  async function (this: ClusterWorld, id: string, kind: string, seconds: number) {
    assert.ok(kind === 'end' || kind === 'error', `a task ends with "end" or "error", not "${kind}"`);
    const record = follow(this, id);
    const state = follows.get(record);
    assert.ok(state);
    const failed = (): void => {
      if (state.error !== undefined)
        throw new Error(`following task ${id} failed (saw: ${summarize(record.events)})`, { cause: state.error });
    };
    await waitFor(
      `task ${id} to end`,
      () => {
        failed();
        return record.events.some(isTerminal) ? true : undefined;
      },
      seconds * 1000,
      20,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; saw: ${summarize(record.events)}`, { cause: error });
    });
    // The stream must close after its terminal event; anything it sends before closing counts below.
    await waitFor(
      `the stream of task ${id} to close after its terminal event`,
      () => (state.settled ? true : undefined),
      CLOSE_BUDGET_MS,
      20,
    );
    failed();
    const terminals = record.events.filter(isTerminal);
    assert.equal(terminals.length, 1, `task ${id}: exactly one terminal event, saw: ${summarize(record.events)}`);
    assert.equal(
      record.events.at(-1)?.event,
      kind,
      `task ${id} ends with ${kind}: ${summarize(record.events)} ${JSON.stringify(record.events.at(-1)?.data)}`,
    );
  },
);

Then('task {string} ended with error code {string}', function (this: ClusterWorld, id: string, code: string) {
  const events = this.task(id).events;
  const error = events.find((e) => e.event === 'error');
  assert.ok(error, `task ${id} has no error event: ${summarize(events)}`);
  assert.equal(error.data['code'], code, `task ${id}'s error: ${JSON.stringify(error.data)}`);
});

Then('task {string} ran on pool {string}', async function (this: ClusterWorld, id: string, pool: string) {
  const record = follow(this, id);
  const started = await waitFor(
    `task ${id} to start (saw: ${summarize(record.events)})`,
    () => {
      const started = record.events.find((e) => e.event === 'started');
      if (started === undefined && follows.get(record)?.settled === true)
        throw new Error(`task ${id} ended without a started event: ${summarize(record.events)}`);
      return started;
    },
    STARTED_BUDGET_MS,
    20,
  );
  if (composeTarget) {
    // The stack's pools are not the step's (p1, p2): the task ran on one of them. Scenarios where which pool
    // matters are not @cloud.
    const pools = await composePoolIds(this.running);
    assert.ok(pools.includes(String(started.data['pool_id'])), `task ${id} started: ${JSON.stringify(started.data)}`);
    this.attach(`compose: task ${id} ran on ${String(started.data['pool_id'])} (the step names ${pool})`);
    return;
  }
  assert.equal(started.data['pool_id'], pool, `task ${id} started: ${JSON.stringify(started.data)}`);
});

Then('the answer is HTTP {int}', function (this: ClusterWorld, status: number) {
  assert.ok(this.last, 'no HTTP answer yet');
  assert.equal(this.last.status, status, `the answer: HTTP ${this.last.status} ${JSON.stringify(this.last.body)}`);
});
