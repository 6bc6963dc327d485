/**
 * Steps of node-lifecycle.feature: pool-managerd restarted, pools drained and reloaded under load.
 */
import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import { jsonRequest } from '../../../src/http-json.ts';
import { isAlive, waitFor } from '../../../src/processes.ts';
import type { ClusterWorld } from '../support/world.ts';
import { CONTROL_BUDGET_MS, GONE_BUDGET_MS, state, onePoll, poolIn, nodeOfPool } from '../support/fault-helpers.ts';

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
