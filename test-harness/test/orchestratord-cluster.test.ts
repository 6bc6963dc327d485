import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AdmissionResponse, DrainResponse, ErrorEnvelope, PoolList, SessionInfo } from '@llama-orch/contracts';
import { startCluster, type Cluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize } from '../src/sse.ts';

/** Run a short task to its end; the pool that ran it is the one its `started` event names. */
async function runOn(url: string, body: Record<string, unknown>): Promise<string> {
  const admitted = await jsonRequest<AdmissionResponse>(`${url}/v2/tasks`, {
    method: 'POST',
    body: { model_ref: 'demo', prompt: 'x', max_tokens: 2, ...body },
  });
  assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
  const { events } = await followEvents(`${url}${admitted.body.streams.sse}`);
  assert.equal(events.at(-1)?.event, 'end', summarize(events));
  assert.equal(events[0]?.event, 'started', summarize(events));
  return String(events[0]?.data['pool_id']);
}

/** Wait until orchestratord's last poll shows every pool idle, so only placement rules choose between them. */
async function allIdle(url: string): Promise<void> {
  await waitFor('every pool idle in orchestratord', async () => {
    const pools = (await jsonRequest<PoolList>(`${url}/v2/pools`)).body.pools;
    return pools.every((p) => p.ready && p.slots_free === p.slots_total) ? true : undefined;
  });
}

// One cluster for the five behaviours below, which run in order: the last two take the node of alpha away.
describe('orchestratord placing across two nodes', { timeout: 45 * 60_000 }, () => {
  let started: Cluster | undefined;
  const cluster = (): Cluster => {
    assert.ok(started, 'the cluster started');
    return started;
  };
  before(async () => {
    started = await startCluster([[{ id: 'alpha', slots: 1, ctx: 16_384 }], [{ id: 'beta', slots: 1, ctx: 16_384 }]], {
      ORCHD_POOL_REQUEST_TIMEOUT_MS: '500',
    });
  });
  after(() => started?.cleanup());

  test('spreads two tasks that arrive together over both pools', async () => {
    const { url } = cluster();
    const long = { model_ref: 'demo', prompt: 'Go on:', max_tokens: 1_000_000, ignore_eos: true };
    for (const id of ['l1', 'l2'])
      assert.equal(
        (await jsonRequest(`${url}/v2/tasks`, { method: 'POST', body: { task_id: id, ...long } })).status,
        202,
      );
    // Both streaming, not only both pools busy: a slot is taken at dispatch, before the pool has accepted the task
    // (`started`), and a task canceled in between ends without having started.
    await waitFor('both pools busy and both tasks streaming', async () => {
      const list = (await jsonRequest<PoolList>(`${url}/v2/pools`)).body.pools;
      if (list.length !== 2 || list.some((p) => p.slots_free !== 0)) return undefined;
      const tasks = await Promise.all(
        ['l1', 'l2'].map(async (id) => (await jsonRequest<{ tokens_out: number }>(`${url}/v2/tasks/${id}`)).body),
      );
      return tasks.every((task) => task.tokens_out > 0) ? true : undefined;
    });
    const ranOn: string[] = [];
    for (const id of ['l1', 'l2']) {
      assert.equal((await jsonRequest(`${url}/v2/tasks/${id}/cancel`, { method: 'POST' })).status, 204);
      const { events } = await followEvents(`${url}/v2/tasks/${id}/events`);
      assert.equal(events[0]?.event, 'started', summarize(events));
      ranOn.push(String(events[0]?.data['pool_id']));
    }
    assert.deepEqual(ranOn.sort(), ['alpha', 'beta'], 'one task on each pool');
    await allIdle(url);
  });

  test('honours pin, prefer and avoid against the tie-break that would choose alpha', async () => {
    const { url } = cluster();
    await allIdle(url);
    assert.equal(await runOn(url, {}), 'alpha', 'with both pools idle the tie-break on pool id chooses alpha');
    await allIdle(url);
    assert.equal(await runOn(url, { placement: { mode: 'pin', pin_pool_id: 'beta' } }), 'beta');
    await allIdle(url);
    assert.equal(await runOn(url, { placement: { mode: 'prefer', prefer_pools: ['beta'] } }), 'beta');
    await allIdle(url);
    assert.equal(await runOn(url, { placement: { mode: 'auto', avoid_pools: ['alpha'] } }), 'beta');
  });

  test('keeps a session on the pool of its first turn although the tie-break would choose the other pool', async () => {
    const { url } = cluster();
    await allIdle(url);
    assert.equal(await runOn(url, {}), 'alpha', 'with both pools idle the tie-break on pool id chooses alpha');
    await allIdle(url);
    const first = await runOn(url, { session_id: 'sticky', placement: { mode: 'pin', pin_pool_id: 'beta' } });
    assert.equal(first, 'beta', 'the first turn is pinned to beta');
    for (let turn = 2; turn <= 4; turn += 1) {
      // Both pools idle: without affinity this turn would go to alpha, as the session-less task did.
      await allIdle(url);
      assert.equal(await runOn(url, { session_id: 'sticky' }), 'beta', `turn ${turn} stays on the session's pool`);
    }
    const session = await jsonRequest<SessionInfo>(`${url}/v2/sessions/sticky`);
    assert.equal(session.body.pool_id, 'beta');
    assert.equal(session.body.turns, 4);
  });

  test('takes a node that stops answering out of placement within a poll interval plus the request timeout, and sends tasks to the survivor', async () => {
    const { url, nodes } = cluster();
    const victim = nodes[0];
    assert.ok(victim);
    const stoppedAt = Date.now();
    await victim.stop();
    await waitFor(
      'alpha to leave placement',
      async () => {
        const list = (await jsonRequest<PoolList>(`${url}/v2/pools`)).body.pools;
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
    for (let i = 0; i < 3; i += 1) assert.equal(await runOn(url, {}), 'beta', 'tasks go to the surviving node');
    const pinned = await jsonRequest<ErrorEnvelope>(`${url}/v2/tasks`, {
      method: 'POST',
      body: { model_ref: 'demo', prompt: 'x', max_tokens: 2, placement: { mode: 'pin', pin_pool_id: 'alpha' } },
    });
    assert.equal(pinned.status, 503, 'a task pinned to the dead node is refused at once: nothing there is coming');
    assert.equal(pinned.body.code, 'POOL_UNAVAILABLE');
    assert.match(pinned.body.message, /alpha/);
  });

  test('forwards a drain to the owning pool-managerd, and answers POOL_UNAVAILABLE when that node is unreachable', async () => {
    const { url } = cluster();
    const drained = await jsonRequest<DrainResponse>(`${url}/v2/pools/beta/drain`, {
      method: 'POST',
      body: { deadline_ms: 1000 },
    });
    assert.equal(drained.status, 200, 'drain is forwarded to the owning pool-managerd');
    assert.equal(drained.body.state, 'offline');
    const unreachable = await jsonRequest<ErrorEnvelope>(`${url}/v2/pools/alpha/drain`, {
      method: 'POST',
      body: { deadline_ms: 1000 },
    });
    assert.equal(unreachable.status, 503);
    assert.equal(unreachable.body.code, 'POOL_UNAVAILABLE');
  });
});

describe('orchestratord retrying a refused dispatch', { timeout: 45 * 60_000 }, () => {
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
