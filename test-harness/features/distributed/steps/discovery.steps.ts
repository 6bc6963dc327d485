/**
 * Steps of discovery.feature: nodes found, added and removed through DNS records that change.
 */
import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import type { PoolStatus } from '@llama-orch/contracts';
import { jsonRequest } from '../../../src/http-json.ts';
import { waitFor } from '../../../src/processes.ts';
import type { ClusterWorld } from '../support/world.ts';
import {
  ANSWER_MS,
  LONG_TASK_TOKENS,
  LONG_CTX,
  ENGINE_START_MS,
  area,
  clusterOf,
  onePoll,
  taskBody,
  submit,
  markOpen,
  streamedOn,
} from '../support/cloud-helpers.ts';
import { clusterClient, nodeGet } from '../support/node-tls.ts';

Given(
  'a cluster of {int} node(s) with {int} slot(s) each found through DNS',
  async function (this: ClusterWorld, nodes: number, slots: number) {
    this.discovery = 'dns';
    await this.startCluster(
      Array.from({ length: nodes }, (_, i) => ({
        id: `n${i + 1}`,
        pools: [{ id: `p${i + 1}`, slots, ctx: LONG_CTX }],
      })),
    );
  },
);

When(
  'node {string} with pool {string} of {int} slot(s) joins the DNS records',
  async function (this: ClusterWorld, nodeId: string, pool: string, slots: number) {
    await clusterOf(this).addNode({ id: nodeId, pools: [{ id: pool, slots }] });
    area(this).joinedAt = Date.now();
  },
);

Then(
  'orchestratord polls node {string} within one poll interval plus the request timeout of its joining',
  async function (this: ClusterWorld, nodeId: string) {
    const cluster = clusterOf(this);
    const joinedAt = area(this).joinedAt;
    assert.ok(joinedAt !== undefined, 'no node joined');
    const left = Math.max(0, joinedAt + onePoll(cluster) - Date.now());
    await cluster.waitForPools((pools) => pools.some((p) => p.node_id === nodeId), `node ${nodeId} polled`, left);
    this.attach(`node ${nodeId} in orchestratord's pools ${Date.now() - joinedAt} ms after it joined the records`);
  },
);

Then(
  'pool {string} is ready in orchestratord within one poll interval plus the request timeout of node {string} saying so',
  async function (this: ClusterWorld, pool: string, nodeId: string) {
    const cluster = clusterOf(this);
    const node = cluster.node(nodeId);
    const client = await clusterClient(this);
    // The engine of a node that just joined is still starting: ask the node itself (over mutual TLS) when it is ready.
    await waitFor(
      `node ${nodeId} to report pool ${pool} ready`,
      async () => {
        const answer = await nodeGet(`${node.url}/v2/pools/${pool}/status`, client);
        return 'status' in answer && answer.status === 200 && (JSON.parse(answer.body) as PoolStatus).ready
          ? true
          : undefined;
      },
      ENGINE_START_MS,
      50,
    );
    const readyAt = Date.now();
    await cluster.waitForPools(
      (pools) => pools.some((p) => p.pool_id === pool && p.ready),
      `pool ${pool} ready in orchestratord`,
      onePoll(cluster),
    );
    this.attach(`pool ${pool} ready in orchestratord ${Date.now() - readyAt} ms after its node said so`);
  },
);

When('I submit the long task {string}', async function (this: ClusterWorld, id: string) {
  const answer = await submit(this, taskBody(id, LONG_TASK_TOKENS), clusterOf(this).auth);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
});

When('the client of task {string} cancels it', async function (this: ClusterWorld, id: string) {
  const cluster = clusterOf(this);
  const answer = await jsonRequest(`${cluster.url}/v2/tasks/${this.wireId(id)}/cancel`, {
    method: 'POST',
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
  assert.equal(answer.status, 204, JSON.stringify(answer.body));
});

When(
  'I submit task {string} pinned to pool {string} with {int} max tokens',
  async function (this: ClusterWorld, id: string, pool: string, maxTokens: number) {
    const answer = await submit(
      this,
      taskBody(id, maxTokens, { placement: { mode: 'pin', pin_pool_id: pool } }),
      clusterOf(this).auth,
    );
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
  },
);

When('node {string} is removed from the DNS records', function (this: ClusterWorld, nodeId: string) {
  clusterOf(this).removeFromDns(nodeId);
});

Then(
  "pool {string} leaves orchestratord's pools within one poll interval plus the request timeout",
  async function (this: ClusterWorld, pool: string) {
    const cluster = clusterOf(this);
    const since = Date.now();
    await cluster.waitForPools(
      (pools) => !pools.some((p) => p.pool_id === pool),
      `pool ${pool} gone`,
      onePoll(cluster),
    );
    markOpen(this, `pool ${pool} left`);
    this.attach(`pool ${pool} left orchestratord's pools ${Date.now() - since} ms after its node left the records`);
  },
);

Then(
  'task {string} streams {int} more tokens within {int} seconds after pool {string} left',
  async function (this: ClusterWorld, id: string, more: number, seconds: number, pool: string) {
    await streamedOn(this, id, `pool ${pool} left`, more, seconds * 1000);
  },
);
