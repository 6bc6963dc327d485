import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AdmissionResponse, DrainResponse, ErrorEnvelope, PoolList } from '@llama-orch/contracts';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents } from '../src/sse.ts';

async function runOn(url: string, body: Record<string, unknown>): Promise<string> {
  const admitted = await jsonRequest<AdmissionResponse>(`${url}/v2/tasks`, {
    method: 'POST',
    body: { model_ref: 'demo', prompt: 'x', max_tokens: 2, ...body },
  });
  assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
  const { events } = await followEvents(`${url}${admitted.body.streams.sse}`);
  assert.equal(events.at(-1)?.event, 'end', JSON.stringify(events.at(-1)));
  return String(events[0]?.data['pool_id']);
}

describe('orchestratord placing across two nodes', { timeout: 45 * 60_000 }, () => {
  test('spreads load, honours pin and avoid, keeps sessions on their pool, and routes around a node that dies', async (t) => {
    const cluster = await startCluster(
      [[{ id: 'alpha', slots: 1, ctx: 16_384 }], [{ id: 'beta', slots: 1, ctx: 16_384 }]],
      { ORCHD_POOL_REQUEST_TIMEOUT_MS: '500' },
    );
    t.after(cluster.cleanup);

    const long = { prompt: 'Go on:', max_tokens: 1_000_000, ignore_eos: true };
    const first = await jsonRequest<AdmissionResponse>(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      body: { task_id: 'l1', model_ref: 'demo', ...long },
    });
    const second = await jsonRequest<AdmissionResponse>(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      body: { task_id: 'l2', model_ref: 'demo', ...long },
    });
    assert.equal(first.body.queue_position + second.body.queue_position, 0, 'both start at once: one per pool');
    const pools = await waitFor('both pools busy', async () => {
      const list = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
      return list.every((p) => p.slots_free === 0) ? list : undefined;
    });
    assert.deepEqual(pools.map((p) => p.pool_id).sort(), ['alpha', 'beta']);
    await jsonRequest(`${cluster.url}/v2/tasks/l1/cancel`, { method: 'POST' });
    await jsonRequest(`${cluster.url}/v2/tasks/l2/cancel`, { method: 'POST' });

    assert.equal(await runOn(cluster.url, { placement: { mode: 'pin', pin_pool_id: 'beta' } }), 'beta');
    assert.equal(await runOn(cluster.url, { placement: { mode: 'auto', avoid_pools: ['alpha'] } }), 'beta');
    assert.equal(await runOn(cluster.url, { placement: { mode: 'prefer', prefer_pools: ['alpha'] } }), 'alpha');
    const home = await runOn(cluster.url, { session_id: 'sticky' });
    for (let i = 0; i < 3; i += 1)
      assert.equal(await runOn(cluster.url, { session_id: 'sticky' }), home, 'the session stays on its pool');

    const victim = cluster.nodes[0];
    assert.ok(victim);
    const stoppedAt = Date.now();
    await victim.stop();
    await waitFor(
      'alpha to leave placement',
      async () => {
        const list = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
        return list.find((p) => p.pool_id === 'alpha')?.ready === false ? true : undefined;
      },
      5_000,
      20,
    );
    const outMs = Date.now() - stoppedAt;
    assert.ok(
      outMs <= 200 + 500 + 800,
      `alpha out of placement after ${outMs} ms (poll 200 ms + timeout 500 ms + scheduling margin)`,
    );
    for (let i = 0; i < 3; i += 1) assert.equal(await runOn(cluster.url, {}), 'beta', 'tasks go to the surviving node');
    const pinned = await jsonRequest<AdmissionResponse>(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      body: {
        model_ref: 'demo',
        prompt: 'x',
        max_tokens: 2,
        deadline_ms: 500,
        placement: { mode: 'pin', pin_pool_id: 'alpha' },
      },
    });
    assert.equal(pinned.status, 202, 'alpha is still known; the task waits for it');
    const { events } = await followEvents(`${cluster.url}${pinned.body.streams.sse}`);
    assert.equal(events.at(-1)?.data['code'], 'DEADLINE_UNMET');

    const drained = await jsonRequest<DrainResponse>(`${cluster.url}/v2/pools/beta/drain`, {
      method: 'POST',
      body: { deadline_ms: 1000 },
    });
    assert.equal(drained.status, 200, 'drain is forwarded to the owning pool-managerd');
    assert.equal(drained.body.state, 'offline');
    const unreachable = await jsonRequest<ErrorEnvelope>(`${cluster.url}/v2/pools/alpha/drain`, {
      method: 'POST',
      body: { deadline_ms: 1000 },
    });
    assert.equal(unreachable.status, 503);
    assert.equal(unreachable.body.code, 'POOL_UNAVAILABLE');
  });

  test('retries a dispatch refused before its first token on another pool, and started names the pool that ran it', async (t) => {
    const cluster = await startCluster([[{ id: 'alpha', slots: 1 }], [{ id: 'beta', slots: 1 }]], {
      ORCHD_POOL_POLL_INTERVAL_MS: '5000',
    });
    t.after(cluster.cleanup);
    const alphaNode = cluster.nodes[0];
    assert.ok(alphaNode);
    // Drained behind orchestratord's back: until its next poll it still believes alpha is ready.
    const drained = await jsonRequest<DrainResponse>(`${alphaNode.url}/v2/pools/alpha/drain`, {
      method: 'POST',
      body: { deadline_ms: 0 },
    });
    assert.equal(drained.body.state, 'offline');
    assert.equal(await runOn(cluster.url, {}), 'beta');
    const log = cluster.orchestrator.proc.output();
    assert.match(
      log,
      /"pool_id":"alpha".*"dispatch refused before the first token"|"dispatch refused before the first token".*"pool_id":"alpha"/,
    );
  });
});
