/**
 * Steps of faults.feature (and the two task steps node-lifecycle.feature shares with it): a node's network or
 * pool-managerd failing and healing, and engines killed. Every wait is on observable state within a named budget; a
 * placement budget is the cluster's poll interval plus its request timeout plus the margin the feature states.
 */
import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import { request } from 'undici';
import { jsonRequest } from '../../../src/http-json.ts';
import { waitFor } from '../../../src/processes.ts';
import { summarize } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';
import { SHORT_TASK_BUDGET_MS, state, onePoll, poolIn, runShortTask } from '../support/fault-helpers.ts';

/** Submit a task of `maxTokens` tokens (ignore_eos: it runs that long) pinned to `poolId`; 202 expected. */
When(
  'I start task {string} of {int} tokens pinned to pool {string}',
  async function (this: ClusterWorld, id: string, maxTokens: number, poolId: string) {
    const cluster = this.running;
    const answer = await jsonRequest(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      headers: cluster.auth,
      body: {
        task_id: this.wireId(id),
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
