/**
 * Steps of faults.feature, node-lifecycle.feature and handoff.feature: a node's network or pool-managerd failing and
 * healing, engines killed, pool-managerd restarted, pools drained and reloaded under load, and handoff files that are
 * bad, dead or gone. Every wait is on observable state (orchestratord's pools, the node's handoffs and log) within a
 * named budget; a placement budget is the cluster's poll interval plus its request timeout plus the margin the
 * feature states.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Then, When } from '@cucumber/cucumber';
import { request } from 'undici';
import { handoffFileName, type Handoff, type PoolStatus } from '@llama-orch/contracts';
import { jsonRequest, type JsonAnswer } from '../../../src/http-json.ts';
import type { NetCluster, NetNode } from '../../../src/netns/index.ts';
import { isAlive, waitFor } from '../../../src/processes.ts';
import { followEvents, summarize } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';

/** How long one short task (a few tokens) may take from submission to its end. */
const SHORT_TASK_BUDGET_MS = 60_000;
/** How long a drain or reload answer may take: the running task finishes first. */
const CONTROL_BUDGET_MS = 180_000;
/** How long a stopped engine or pool-managerd may take to be gone. */
const GONE_BUDGET_MS = 15_000;
/** How long pool-managerd may take to log what it did with a handoff file (it is seen within 1 s: POOL-3001). */
const HANDOFF_SEEN_BUDGET_MS = 5_000;
/** A port nothing listens on inside a node's namespace (discard). */
const DEAD_ENGINE_PORT = 9;

/** What a scenario of these features remembers between its steps. */
interface FaultState {
  /** When the last fault took effect (partition, hang, a handoff removed), for the placement budgets. */
  faultAt?: number;
  /** The engine pids of each node before it was disturbed. */
  readonly pidsBefore: Map<string, number[]>;
  /** Drain and reload answers still to come, by pool. */
  readonly control: Map<string, Promise<JsonAnswer<Record<string, unknown>>>>;
  /** Handoff files taken away, by pool, to be put back. */
  readonly removed: Map<string, { file: string; text: string }>;
}
const states = new WeakMap<ClusterWorld, FaultState>();
function state(world: ClusterWorld): FaultState {
  let s = states.get(world);
  if (s === undefined) {
    s = { pidsBefore: new Map(), control: new Map(), removed: new Map() };
    states.set(world, s);
  }
  return s;
}

const engines = (node: NetNode): string => join(node.runtimeDir, 'engines');
const onePoll = (cluster: NetCluster): number => cluster.pollIntervalMs + cluster.requestTimeoutMs;
const poolIn = (pools: readonly PoolStatus[], id: string): PoolStatus | undefined =>
  pools.find((p) => p.pool_id === id);

/** Write a file as a provisioner does: a dot-named temp file (the watcher skips it), then a rename. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = join(file, '..', `.${Date.now()}.tmp`);
  await writeFile(temp, text);
  await rename(temp, file);
}

/** The handoff file of `poolId` on `node` (replica r0, as the in-process provisioner names it). */
async function handoffOf(node: NetNode, poolId: string): Promise<{ file: string; text: string; handoff: Handoff }> {
  const file = join(engines(node), handoffFileName(poolId, 'r0'));
  const text = await readFile(file, 'utf8');
  return { file, text, handoff: JSON.parse(text) as Handoff };
}

/** The node that serves `poolId`, as orchestratord's pools say. */
async function nodeOfPool(world: ClusterWorld, poolId: string): Promise<NetNode> {
  const cluster = world.running;
  const pools = await cluster.waitForPools((all) => poolIn(all, poolId) !== undefined, `pool ${poolId} listed`, 5_000);
  return cluster.node(poolIn(pools, poolId)?.node_id ?? '');
}

/** The pool of a node with one pool (the first its handoff files name). */
async function onlyPoolOf(node: NetNode): Promise<string> {
  const pools = (await readdir(engines(node))).filter((n) => /^[a-z0-9-]+-r0\.json$/.test(n)).sort();
  assert.ok(pools[0], `node ${node.id} has a handoff`);
  return pools[0].slice(0, -'-r0.json'.length);
}

/**
 * Run one short task to its end and say where it ran; `pin` pins it. Its own events are checked here: started on
 * some pool, exactly one terminal event, and that one an `end`.
 */
async function runShortTask(world: ClusterWorld, id: string, pin?: string): Promise<string> {
  const cluster = world.running;
  const admitted = await jsonRequest<{ streams?: { sse?: string } }>(`${cluster.url}/v2/tasks`, {
    method: 'POST',
    headers: cluster.auth,
    body: {
      task_id: id,
      model_ref: 'demo',
      prompt: 'Once upon a time',
      max_tokens: 8,
      ignore_eos: true,
      ...(pin === undefined ? {} : { placement: { mode: 'pin', pin_pool_id: pin } }),
    },
    timeoutMs: SHORT_TASK_BUDGET_MS,
  });
  assert.equal(admitted.status, 202, `task ${id}: ${JSON.stringify(admitted.body)}`);
  const { events } = await followEvents(`${cluster.url}/v2/tasks/${id}/events`, {
    headers: cluster.auth,
    timeoutMs: SHORT_TASK_BUDGET_MS,
  });
  const terminals = events.filter((e) => e.event === 'end' || e.event === 'error');
  assert.equal(terminals.length, 1, `task ${id}: one terminal event, saw ${summarize(events)}`);
  assert.equal(events.at(-1)?.event, 'end', `task ${id} ends: ${JSON.stringify(events.at(-1))}`);
  const started = events.find((e) => e.event === 'started');
  assert.ok(started, `task ${id} started: ${summarize(events)}`);
  return String(started.data['pool_id']);
}

/** Submit a task of `maxTokens` tokens (ignore_eos: it runs that long) pinned to `poolId`; 202 expected. */
When(
  'I start task {string} of {int} tokens pinned to pool {string}',
  async function (this: ClusterWorld, id: string, maxTokens: number, poolId: string) {
    const cluster = this.running;
    const answer = await jsonRequest(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      headers: cluster.auth,
      body: {
        task_id: id,
        model_ref: 'demo',
        prompt: 'Once upon a time',
        max_tokens: maxTokens,
        ignore_eos: true,
        placement: { mode: 'pin', pin_pool_id: poolId },
      },
      timeoutMs: SHORT_TASK_BUDGET_MS,
    });
    this.last = answer;
    this.task(id).admission = answer;
    assert.equal(answer.status, 202, `task ${id}: ${JSON.stringify(answer.body)}`);
  },
);

Then(
  'task {string} is streaming within {int} seconds',
  async function (this: ClusterWorld, id: string, seconds: number) {
    const record = this.task(id);
    await waitFor(
      `a token of task ${id}`,
      () => (record.events.some((e) => e.event === 'token') ? true : undefined),
      seconds * 1000,
      20,
    );
    assert.ok(
      record.events.every((e) => e.event !== 'end' && e.event !== 'error'),
      `task ${id} still runs: ${summarize(record.events)}`,
    );
  },
);

// ---- faults -------------------------------------------------------------------------------------------------

When('node {string} loses its link', async function (this: ClusterWorld, nodeId: string) {
  await this.running.node(nodeId).partition('link');
  state(this).faultAt = Date.now();
});

When('node {string} drops every packet', async function (this: ClusterWorld, nodeId: string) {
  await this.running.node(nodeId).partition('drop');
  state(this).faultAt = Date.now();
});

When('node {string} heals', async function (this: ClusterWorld, nodeId: string) {
  await this.running.node(nodeId).heal();
});

When('the pool-managerd of node {string} hangs', function (this: ClusterWorld, nodeId: string) {
  this.running.node(nodeId).hang();
  state(this).faultAt = Date.now();
});

When('the pool-managerd of node {string} resumes', function (this: ClusterWorld, nodeId: string) {
  this.running.node(nodeId).resume();
});

Then(
  'pool {string} leaves placement within one poll interval plus the request timeout plus {int} ms',
  async function (this: ClusterWorld, poolId: string, marginMs: number) {
    const cluster = this.running;
    const since = state(this).faultAt;
    assert.ok(since !== undefined, 'a fault step comes first');
    const budget = onePoll(cluster) + marginMs;
    await cluster.waitForPools(
      (pools) => poolIn(pools, poolId)?.ready === false,
      `pool ${poolId} out of placement`,
      budget,
    );
    const took = Date.now() - since;
    this.attach(`pool ${poolId} out of placement ${took} ms after the fault (budget ${budget} ms)`);
    assert.ok(took <= budget, `pool ${poolId} left placement after ${took} ms; budget ${budget} ms`);
  },
);

Then(
  'pool {string} is out of placement within {int} seconds',
  async function (this: ClusterWorld, poolId: string, seconds: number) {
    await this.running.waitForPools(
      (pools) => poolIn(pools, poolId)?.ready === false,
      `pool ${poolId} out of placement`,
      seconds * 1000,
    );
  },
);

/** How many status polls of `poolId` orchestratord counted (orchd_pool_health_checks_total, every outcome). */
async function pollsOf(world: ClusterWorld, poolId: string): Promise<number> {
  const cluster = world.running;
  const answer = await request(`${cluster.url}/metrics`, { headers: cluster.auth });
  const text = await answer.body.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('orchd_pool_health_checks_total{') && line.includes(`pool_id="${poolId}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

Then(
  'orchestratord polls pool {string} {int} more times within {int} seconds',
  async function (this: ClusterWorld, poolId: string, more: number, seconds: number) {
    const before = await pollsOf(this, poolId);
    let seen = before;
    await waitFor(
      `${more} more polls of ${poolId}`,
      async () => {
        seen = await pollsOf(this, poolId);
        return seen >= before + more ? true : undefined;
      },
      seconds * 1000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}: ${seen - before} polls of ${poolId} in ${seconds} s`, {
        cause: error,
      });
    });
  },
);

Then(
  '{int} new task(s) in a row run on pool {string}',
  async function (this: ClusterWorld, count: number, poolId: string) {
    for (let i = 0; i < count; i += 1) assert.equal(await runShortTask(this, `elsewhere-${i}`), poolId);
  },
);

Then(
  'pool {string} is placeable again within {int} seconds',
  async function (this: ClusterWorld, poolId: string, seconds: number) {
    await this.running.waitForPools(
      (pools) => poolIn(pools, poolId)?.ready === true,
      `pool ${poolId} ready again`,
      seconds * 1000,
    );
    assert.equal(await runShortTask(this, `back-on-${poolId}`, poolId), poolId);
  },
);

Then('task {string} has neither started nor ended', function (this: ClusterWorld, id: string) {
  const events = this.task(id).events;
  assert.ok(
    events.every((e) => e.event !== 'started' && e.event !== 'end' && e.event !== 'error'),
    `task ${id} still waits: ${summarize(events)}`,
  );
});

// ---- node lifecycle -----------------------------------------------------------------------------------------

When('the engine of node {string} is killed', async function (this: ClusterWorld, nodeId: string) {
  const pids = await this.running.node(nodeId).enginePids();
  assert.equal(pids.length, 1, `node ${nodeId} runs one engine: ${pids.join(', ')}`);
  state(this).pidsBefore.set(nodeId, pids);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
});

Then(
  'node {string} runs a new engine within {int} seconds',
  async function (this: ClusterWorld, nodeId: string, seconds: number) {
    const node = this.running.node(nodeId);
    const before = state(this).pidsBefore.get(nodeId) ?? [];
    const pids = await waitFor(
      `a new engine on node ${nodeId}`,
      async () => {
        const now = await node.enginePids();
        return now.length > 0 && now.every((pid) => !before.includes(pid) && isAlive(pid)) ? now : undefined;
      },
      seconds * 1000,
    );
    this.attach(`engines of ${nodeId}: ${before.join(', ')} → ${pids.join(', ')}`);
    for (const pid of before) assert.ok(!isAlive(pid), `the old engine ${pid} is gone`);
  },
);

When(
  'the pool-managerd of node {string} is stopped with {word}',
  async function (this: ClusterWorld, nodeId: string, signal: string) {
    assert.ok(signal === 'SIGTERM' || signal === 'SIGKILL', `SIGTERM or SIGKILL, not ${signal}`);
    const node = this.running.node(nodeId);
    state(this).pidsBefore.set(nodeId, await node.enginePids());
    await node.stopPoolManagerd(signal);
    state(this).faultAt = Date.now();
  },
);

Then('no engine of node {string} outlives its pool-managerd', async function (this: ClusterWorld, nodeId: string) {
  const before = state(this).pidsBefore.get(nodeId) ?? [];
  assert.ok(before.length > 0, `node ${nodeId} ran engines before`);
  await waitFor(
    `the engines ${before.join(', ')} of node ${nodeId} to be gone`,
    () => (before.every((pid) => !isAlive(pid)) ? true : undefined),
    GONE_BUDGET_MS,
  );
});

Then('node {string} has no handoff file left', async function (this: ClusterWorld, nodeId: string) {
  assert.deepEqual(await this.running.node(nodeId).enginePids(), [], `the handoffs of node ${nodeId} are removed`);
});

When('the pool-managerd of node {string} starts again', async function (this: ClusterWorld, nodeId: string) {
  await this.running.node(nodeId).startPoolManagerd();
});

When(
  'an admin drains pool {string} with a deadline of {int} ms',
  async function (this: ClusterWorld, poolId: string, deadlineMs: number) {
    await control(this, poolId, 'drain', { deadline_ms: deadlineMs });
  },
);

When(
  'an admin reloads pool {string} to the model {string}',
  async function (this: ClusterWorld, poolId: string, modelRef: string) {
    await control(this, poolId, 'reload', { model_ref: modelRef });
  },
);

/** Start a drain or reload through orchestratord with the admin key; its answer comes later (it waits for work). */
async function control(world: ClusterWorld, poolId: string, action: 'drain' | 'reload', body: object): Promise<void> {
  const cluster = world.running;
  const owner = await nodeOfPool(world, poolId);
  state(world).pidsBefore.set(owner.id, await owner.enginePids());
  const answer = jsonRequest<Record<string, unknown>>(`${cluster.url}/v2/pools/${poolId}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cluster.adminKey}` },
    body,
    timeoutMs: CONTROL_BUDGET_MS,
  });
  answer.catch(() => undefined); // awaited by the step that checks it
  state(world).control.set(poolId, answer);
}

async function controlAnswer(world: ClusterWorld, poolId: string): Promise<Record<string, unknown>> {
  const pending = state(world).control.get(poolId);
  assert.ok(pending, `a drain or reload of ${poolId} was asked for`);
  const answer = await pending;
  world.last = answer;
  assert.equal(answer.status, 200, `the answer: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

Then(
  'the drain of pool {string} answers with the state {string} and {int} aborted',
  async function (this: ClusterWorld, poolId: string, poolState: string, aborted: number) {
    const body = await controlAnswer(this, poolId);
    assert.equal(body['state'], poolState, JSON.stringify(body));
    assert.equal(body['aborted'], aborted, JSON.stringify(body));
  },
);

Then(
  'pool {string} stays out of placement as {string}',
  async function (this: ClusterWorld, poolId: string, poolState: string) {
    const pools = await this.running.waitForPools(
      (list) => poolIn(list, poolId)?.state === poolState,
      `pool ${poolId} ${poolState}`,
      onePoll(this.running),
    );
    assert.equal(poolIn(pools, poolId)?.ready, false);
  },
);

Then(
  'pool {string} shows as draining in orchestratord within one poll interval plus the request timeout',
  async function (this: ClusterWorld, poolId: string) {
    const cluster = this.running;
    const pools = await cluster.waitForPools(
      (list) => poolIn(list, poolId)?.draining === true,
      `pool ${poolId} draining`,
      onePoll(cluster),
    );
    assert.equal(poolIn(pools, poolId)?.ready, false, `a draining pool is out of placement`);
  },
);

Then('the reload of pool {string} answers ok, not rolled back', async function (this: ClusterWorld, poolId: string) {
  const body = await controlAnswer(this, poolId);
  assert.equal(body['ok'], true, JSON.stringify(body));
  assert.equal(body['rolled_back'], false, JSON.stringify(body));
});

Then('node {string} serves from engines other than before', async function (this: ClusterWorld, nodeId: string) {
  const before = state(this).pidsBefore.get(nodeId) ?? [];
  const now = await this.running.node(nodeId).enginePids();
  assert.ok(before.length > 0 && now.length > 0, `engines before ${before.join(', ')}, now ${now.join(', ')}`);
  assert.ok(
    now.every((pid) => !before.includes(pid)),
    `new engines: before ${before.join(', ')}, now ${now.join(', ')}`,
  );
  await waitFor(
    `the old engines ${before.join(', ')} to stop`,
    () => (before.every((pid) => !isAlive(pid)) ? true : undefined),
    GONE_BUDGET_MS,
  );
});

// ---- handoff files ------------------------------------------------------------------------------------------

/** The text of a bad handoff file of each kind, made from a good one (`good`) of the node. */
function badHandoff(kind: string, good: Handoff): string {
  switch (kind) {
    case 'text that is not JSON':
      return '{"schema_version": 1, "pool_id": "broken", ';
    case 'schema_version 2':
      return JSON.stringify({ ...good, schema_version: 2, pool_id: 'future' });
    case 'a URL off loopback':
      return JSON.stringify({ ...good, pool_id: 'remote', url: 'http://10.200.0.1:8080' });
    case "another pool's name":
      return JSON.stringify({ ...good, pool_id: 'other' });
    default:
      throw new Error(`no bad handoff of the kind "${kind}"`);
  }
}

When(
  'the handoff file {string} holding {string} appears on node {string}',
  async function (this: ClusterWorld, name: string, kind: string, nodeId: string) {
    const node = this.running.node(nodeId);
    const good = await handoffOf(node, await onlyPoolOf(node));
    await writeAtomically(join(engines(node), name), badHandoff(kind, good.handoff));
  },
);

Then(
  'node {string} logs that it ignored {string} because {string}',
  async function (this: ClusterWorld, nodeId: string, name: string, reason: string) {
    const node = this.running.node(nodeId);
    const line = await waitFor(
      `node ${nodeId} to log that it ignored ${name}`,
      () =>
        node
          .logs()
          .split('\n')
          .find((l) => l.includes('"ignoring handoff file"') && l.includes(`/${name}"`)),
      HANDOFF_SEEN_BUDGET_MS,
    );
    this.attach(line);
    const logged = JSON.parse(line) as { reason?: string };
    assert.ok(logged.reason?.includes(reason), `the logged reason "${logged.reason}" says "${reason}"`);
    // Ignored, never deleted (POOL-3002).
    await readFile(join(engines(node), name), 'utf8');
  },
);

Then('orchestratord lists exactly the pools {string}', async function (this: ClusterWorld, list: string) {
  const expected = list.split(',').map((s) => s.trim());
  const pools = await this.running.waitForPools(
    (all) => all.length > 0,
    'the pools of orchestratord',
    onePoll(this.running),
  );
  assert.deepEqual(pools.map((p) => p.pool_id).sort(), [...expected].sort());
});

When(
  'a handoff of pool {string} naming an engine that does not answer appears on node {string}',
  async function (this: ClusterWorld, poolId: string, nodeId: string) {
    const node = this.running.node(nodeId);
    const good = await handoffOf(node, await onlyPoolOf(node));
    // A live pid (this test process) with a URL where no engine listens: only the URL is dead.
    const dead: Handoff = {
      ...good.handoff,
      pool_id: poolId,
      url: `http://127.0.0.1:${DEAD_ENGINE_PORT}`,
      pid: process.pid,
    };
    await writeAtomically(join(engines(node), handoffFileName(poolId, 'r0')), JSON.stringify(dead));
  },
);

Then(
  'orchestratord lists pool {string} as not ready, its last error saying {string}',
  async function (this: ClusterWorld, poolId: string, error: string) {
    const pools = await this.running.waitForPools(
      (all) => poolIn(all, poolId)?.last_error?.includes(error) === true,
      `pool ${poolId} listed with the error "${error}"`,
      HANDOFF_SEEN_BUDGET_MS + onePoll(this.running),
    );
    const pool = poolIn(pools, poolId);
    this.attach(JSON.stringify(pool));
    assert.equal(pool?.ready, false);
    assert.notEqual(pool?.state, 'ready');
  },
);

When(
  'the handoff of pool {string} is removed from node {string}',
  async function (this: ClusterWorld, poolId: string, nodeId: string) {
    const { file, text } = await handoffOf(this.running.node(nodeId), poolId);
    state(this).removed.set(poolId, { file, text });
    await unlink(file);
    state(this).faultAt = Date.now();
  },
);

When('the handoff of pool {string} is put back', async function (this: ClusterWorld, poolId: string) {
  const removed = state(this).removed.get(poolId);
  assert.ok(removed, `the handoff of ${poolId} was removed first`);
  await writeAtomically(removed.file, removed.text);
});
