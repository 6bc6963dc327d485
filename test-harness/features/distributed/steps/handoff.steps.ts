/**
 * Steps of handoff.feature: handoff files that are bad, dead or gone.
 */
import assert from 'node:assert/strict';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Then, When } from '@cucumber/cucumber';
import { handoffFileName, type Handoff } from '@llama-orch/contracts';
import { waitFor } from '../../../src/processes.ts';
import type { ClusterWorld } from '../support/world.ts';
import {
  DEAD_ENGINE_PORT,
  HANDOFF_SEEN_BUDGET_MS,
  state,
  engines,
  onePoll,
  poolIn,
  writeAtomically,
  handoffOf,
  onlyPoolOf,
} from '../support/fault-helpers.ts';

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
