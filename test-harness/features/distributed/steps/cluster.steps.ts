/**
 * Steps of cluster.feature: real network faults on a node's namespace, and the pool's place in orchestratord's
 * placement measured against one poll interval plus the request timeout (CLOUD-0007).
 */
import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import { waitFor } from '../../../src/processes.ts';
import { summarize } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';

/**
 * Slack on top of poll interval + request timeout for a loaded 2-core machine. 2 s was passed once in CI (a drop
 * partition seen after more than 3.5 s, while the same scenario's figures are ~1.5 s elsewhere): 3 s, still far below
 * the minutes an unbounded wait would take.
 */
const SCHEDULING_MARGIN_MS = 3_000;
/** When the last fault or heal happened, per scenario: the budgets below count from it. */
const changedAt = new WeakMap<ClusterWorld, number>();

When(
  'node {string} is cut off from the bridge with {string}',
  async function (this: ClusterWorld, id: string, how: string) {
    assert.ok(how === 'link' || how === 'drop', `cut off with "link" or "drop", not "${how}"`);
    await this.running.node(id).partition(how);
    changedAt.set(this, Date.now()); // from the moment the fault is in place
  },
);

When('node {string} is reconnected to the bridge', async function (this: ClusterWorld, id: string) {
  await this.running.node(id).heal();
  changedAt.set(this, Date.now());
});

async function placement(world: ClusterWorld, pool: string, ready: boolean): Promise<void> {
  const cluster = world.running;
  const since = changedAt.get(world) ?? Date.now();
  const budget = cluster.pollIntervalMs + cluster.requestTimeoutMs + SCHEDULING_MARGIN_MS;
  await cluster.waitForPools(
    (pools) => pools.find((p) => p.pool_id === pool)?.ready === ready,
    `pool ${pool} ${ready ? 'back in' : 'out of'} placement`,
    Math.max(0, since + budget - Date.now()),
  );
  world.attach(`pool ${pool} ${ready ? 'back' : 'out'} after ${Date.now() - since} ms (budget ${budget} ms)`);
}

Then(
  'pool {string} is out of placement within one poll interval plus the request timeout',
  async function (this: ClusterWorld, pool: string) {
    await placement(this, pool, false);
  },
);

Then(
  'pool {string} is back in placement within one poll interval plus the request timeout',
  async function (this: ClusterWorld, pool: string) {
    await placement(this, pool, true);
  },
);

Then(
  'task {string} has streamed a token within {int} seconds',
  async function (this: ClusterWorld, id: string, s: number) {
    const record = this.task(id);
    assert.ok(record.followed, `task ${id} is not followed: a step "I follow the events of task" comes first`);
    await waitFor(
      `a token of task ${id}`,
      () => {
        if (record.events.some((e) => e.event === 'end' || e.event === 'error'))
          throw new Error(`task ${id} ended before the fault: ${summarize(record.events)}`);
        return record.events.some((e) => e.event === 'token') ? true : undefined;
      },
      s * 1000,
      20,
    );
  },
);
