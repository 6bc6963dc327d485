import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CapabilitiesSchema,
  PoolHealthSchema,
  validate,
  VersionInfoSchema,
  type AdmissionResponse,
  type Capabilities,
  type ErrorEnvelope,
  type PoolHealth,
  type PoolList,
  type SessionInfo,
  type VersionInfo,
} from '@llama-orch/contracts';
import { request } from 'undici';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize, type SseEvent } from '../src/sse.ts';

const names = (events: SseEvent[]): string => events.map((e) => e.event).join(',');
/** A stream whose terminal event is due at once (an eviction, a cancel, a deadline) gets a short budget. */
const AT_ONCE = { timeoutMs: 10_000 };
const submit = (url: string, body: Record<string, unknown>) =>
  jsonRequest<AdmissionResponse & ErrorEnvelope>(`${url}/v2/tasks`, { method: 'POST', body });
const endless = (id: string, extra: Record<string, unknown> = {}) => ({
  task_id: id,
  model_ref: 'demo',
  prompt: 'Go on:',
  max_tokens: 1_000_000,
  ignore_eos: true,
  ...extra,
});

describe('orchestratord /v2 tasks against real pools', { timeout: 45 * 60_000 }, () => {
  test('streams started, tokens and one end whose tokens_out equals the tokens sent; sessions track turns and their pool', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 2 }]]);
    t.after(cluster.cleanup);
    const admitted = await submit(cluster.url, {
      task_id: 'order-1',
      session_id: 's-1',
      model_ref: 'demo',
      prompt: 'Hello',
      max_tokens: 40,
      ignore_eos: true,
    });
    assert.equal(admitted.status, 202);
    assert.deepEqual(admitted.body.streams, { sse: '/v2/tasks/order-1/events' });
    const { status, headers, events } = await followEvents(`${cluster.url}/v2/tasks/order-1/events`, {
      headers: { 'x-correlation-id': 'corr-sse' },
    });
    assert.equal(status, 200);
    assert.equal(headers['x-correlation-id'], 'corr-sse');
    assert.match(names(events), /^started,(token,|metrics,)*end$/);
    const tokens = events.filter((e) => e.event === 'token');
    assert.equal(tokens.length, 40);
    tokens.forEach((e, i) => assert.equal(e.data['i'], i));
    assert.equal(events.at(-1)?.data['tokens_out'], 40);
    const metricsEvent = events.find((e) => e.event === 'metrics');
    assert.equal(metricsEvent?.data['tokens_out'], 32, 'a metrics event is interleaved every 32 tokens');
    assert.equal(events[0]?.data['pool_id'], 'demo');

    const session = await jsonRequest<SessionInfo>(`${cluster.url}/v2/sessions/s-1`);
    assert.equal(session.status, 200);
    assert.equal(session.body.turns, 1);
    assert.equal(session.body.pool_id, 'demo');
    assert.equal(session.body.kv_warmth, true);
    assert.ok(session.body.ttl_ms_remaining > 590_000);
    assert.equal((await jsonRequest(`${cluster.url}/v2/sessions/s-1`, { method: 'DELETE' })).status, 204);
    assert.equal((await jsonRequest(`${cluster.url}/v2/sessions/s-1`)).status, 404);
    assert.equal((await jsonRequest(`${cluster.url}/v2/tasks/nope/events`)).status, 404);
    assert.equal((await jsonRequest(`${cluster.url}/v2/tasks/nope/cancel`, { method: 'POST' })).status, 404);

    const metrics = await request(`${cluster.url}/metrics`).then((r) => r.body.text());
    for (const series of [
      'tasks_enqueued_total{priority="interactive"} 1',
      'tasks_started_total{pool_id="demo",priority="interactive"} 1',
      'tokens_out_total{pool_id="demo"} 40',
      'queue_depth{priority="batch"} 0',
      'latency_first_token_ms_count{pool_id="demo",priority="interactive"} 1',
      'latency_decode_ms_count{pool_id="demo",priority="interactive"} 1',
      'admission_share{priority="interactive"} 1',
    ]) {
      assert.ok(metrics.includes(series), `metrics lack ${series}`);
    }
    assert.match(metrics, /tokens_in_total\{pool_id="demo"\} [1-9]/);

    const version = await jsonRequest<VersionInfo>(`${cluster.url}/v2/meta/version`);
    assert.ok(validate(VersionInfoSchema, version.body).ok);
    const capabilities = await jsonRequest<Capabilities>(`${cluster.url}/v2/meta/capabilities`);
    assert.ok(validate(CapabilitiesSchema, capabilities.body).ok);
    assert.deepEqual(capabilities.body.engines[0]?.models, ['demo']);
    assert.equal(capabilities.body.engines[0]?.slots_total, 2);
    const health = await jsonRequest<PoolHealth>(`${cluster.url}/v2/pools/demo/health`);
    assert.ok(validate(PoolHealthSchema, health.body).ok);
    assert.equal(health.body.ready, true);
    assert.equal((await jsonRequest(`${cluster.url}/v2/pools/nope/health`)).status, 404);
  });

  test('refuses bad bodies with a 400 envelope naming the field, a task_id reused for another request with 409, and never answers 5xx', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 131_072 }]]);
    t.after(cluster.cleanup);
    const cases: [unknown, string][] = [
      [{ prompt: 'x' }, 'model_ref'],
      [{ model_ref: 'demo', prompt: 'x', max_tokens: -1 }, 'max_tokens'],
      [{ model_ref: 'demo', prompt: 'x', priority: 'urgent' }, 'priority'],
      [{ model_ref: 'demo', prompt: 'x', promt: 'typo' }, 'promt'],
      [{ model_ref: 'demo', prompt: 'x', placement: { mode: 'pin', pin_pool_id: 'zzz' } }, 'placement.pin_pool_id'],
    ];
    for (const [body, field] of cases) {
      const answer = await jsonRequest<ErrorEnvelope>(`${cluster.url}/v2/tasks`, { method: 'POST', body });
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.code, 'INVALID_PARAMS');
      assert.match(answer.body.message, new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: `));
    }
    const notJson = await jsonRequest<ErrorEnvelope>(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      body: undefined,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(notJson.status, 400);
    const unknownModel = await submit(cluster.url, { model_ref: 'llama-70b', prompt: 'x' });
    assert.equal(unknownModel.status, 404);
    assert.equal(unknownModel.body.code, 'MODEL_NOT_AVAILABLE');

    assert.equal((await submit(cluster.url, endless('dup'))).status, 202);
    const same = await submit(cluster.url, endless('dup'));
    assert.equal(same.status, 202, 'the same request again is the same task');
    assert.deepEqual(same.body.streams, { sse: '/v2/tasks/dup/events' });
    const again = await submit(cluster.url, endless('dup', { prompt: 'Something else:' }));
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'CONFLICT');
    assert.equal((await jsonRequest(`${cluster.url}/v2/tasks/dup/cancel`, { method: 'POST' })).status, 204);
    // A canceled task (like one that failed for a retriable reason) runs again when its client submits it again.
    const rerun = await submit(cluster.url, endless('dup'));
    assert.equal(rerun.status, 202, JSON.stringify(rerun.body));
    assert.equal((await jsonRequest(`${cluster.url}/v2/tasks/dup/cancel`, { method: 'POST' })).status, 204);
  });

  test('cancel removes a queued task and stops a streaming one with no token after the cancel; a client that leaves frees the slot', async (t) => {
    // A context the endless tasks cannot fill while the test works (the demo engine makes thousands of tokens/s).
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 131_072 }]]);
    t.after(cluster.cleanup);
    assert.equal((await submit(cluster.url, endless('running'))).status, 202);
    const queued = await submit(cluster.url, { task_id: 'queued', model_ref: 'demo', prompt: 'x', max_tokens: 4 });
    assert.equal(queued.body.queue_position, 0);
    assert.ok(queued.body.predicted_start_ms > 0, 'a queued task predicts a wait');
    assert.equal((await jsonRequest(`${cluster.url}/v2/tasks/queued/cancel`, { method: 'POST' })).status, 204);
    const queuedEvents = await followEvents(`${cluster.url}/v2/tasks/queued/events`, AT_ONCE);
    assert.equal(names(queuedEvents.events), 'end');
    assert.equal(queuedEvents.events[0]?.data['finish_reason'], 'canceled');

    let canceledAt = -1;
    const seen: SseEvent[] = [];
    const following = followEvents(`${cluster.url}/v2/tasks/running/events`, {
      onEvent: (event) => {
        seen.push(event);
        if (event.event === 'token' && seen.filter((e) => e.event === 'token').length === 5 && canceledAt < 0) {
          canceledAt = seen.length;
          void jsonRequest(`${cluster.url}/v2/tasks/running/cancel`, { method: 'POST' });
        }
      },
    });
    const { events } = await following;
    const end = events.findIndex((e) => e.event === 'end');
    assert.equal(end, events.length - 1, 'the terminal event is the last');
    assert.equal(events[end]?.data['finish_reason'], 'canceled');
    assert.equal(events[end]?.data['tokens_out'], events.filter((e) => e.event === 'token').length);

    // A streaming client that goes away cancels its task and frees the slot for the next one.
    assert.equal((await submit(cluster.url, endless('leaver'))).status, 202);
    const controller = new AbortController();
    const leaving = followEvents(`${cluster.url}/v2/tasks/leaver/events`, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.event === 'token') controller.abort();
      },
    });
    await leaving;
    await waitFor(
      'the slot to be free',
      async () => {
        const pools = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
        return pools[0]?.slots_free === 1 ? true : undefined;
      },
      10_000,
    );
    const next = await submit(cluster.url, { task_id: 'after', model_ref: 'demo', prompt: 'x', max_tokens: 3 });
    assert.equal(next.body.queue_position, 0);
    assert.match(
      names((await followEvents(`${cluster.url}/v2/tasks/after/events`)).events),
      /^started,(token,){3}end$/,
    );
  });

  test('a full queue answers 429 with Retry-After, X-Backoff-Ms and a computed retry_after_ms; interactive overtakes batch; deadlines expire', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 131_072 }]], { ORCHD_ADMISSION_CAPACITY: '2' });
    t.after(cluster.cleanup);
    assert.equal((await submit(cluster.url, endless('hog'))).status, 202);
    assert.equal(
      (await submit(cluster.url, { task_id: 'b1', model_ref: 'demo', prompt: 'x', max_tokens: 2, priority: 'batch' }))
        .status,
      202,
    );
    const i1 = await submit(cluster.url, {
      task_id: 'i1',
      model_ref: 'demo',
      prompt: 'x',
      max_tokens: 2,
      priority: 'interactive',
    });
    assert.equal(i1.body.queue_position, 0, 'interactive goes ahead of the queued batch task');
    const full = await submit(cluster.url, { task_id: 'x1', model_ref: 'demo', prompt: 'x', max_tokens: 2 });
    assert.equal(full.status, 429);
    assert.equal(full.body.code, 'ADMISSION_REJECT');
    assert.equal(full.body.policy_label, 'reject');
    assert.ok((full.body.retry_after_ms ?? 0) >= 100);
    assert.equal(full.headers['x-backoff-ms'], String(full.body.retry_after_ms));
    assert.equal(full.headers['retry-after'], String(Math.max(1, Math.ceil((full.body.retry_after_ms ?? 0) / 1000))));

    const order: string[] = [];
    const watch = (id: string) =>
      followEvents(`${cluster.url}/v2/tasks/${id}/events`, { onEvent: (e) => e.event === 'started' && order.push(id) });
    const b1 = watch('b1');
    const i1Events = watch('i1');
    await jsonRequest(`${cluster.url}/v2/tasks/hog/cancel`, { method: 'POST' });
    await Promise.all([b1, i1Events]);
    assert.deepEqual(order, ['i1', 'b1']);

    assert.equal((await submit(cluster.url, endless('hog2'))).status, 202);
    const late = await submit(cluster.url, {
      task_id: 'late',
      model_ref: 'demo',
      prompt: 'x',
      max_tokens: 2,
      deadline_ms: 300,
    });
    assert.equal(late.status, 202);
    const lateEvents = await followEvents(`${cluster.url}/v2/tasks/late/events`, AT_ONCE);
    assert.equal(names(lateEvents.events), 'error');
    assert.equal(lateEvents.events[0]?.data['code'], 'DEADLINE_UNMET');
    await jsonRequest(`${cluster.url}/v2/tasks/hog2/cancel`, { method: 'POST' });
  });

  test('drop-lru evicts the oldest batch task, whose stream ends with QUEUE_FULL_DROP_LRU', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 131_072 }]], {
      ORCHD_ADMISSION_CAPACITY: '1',
      ORCHD_ADMISSION_POLICY: 'drop-lru',
    });
    t.after(cluster.cleanup);
    assert.equal((await submit(cluster.url, endless('hog'))).status, 202);
    assert.equal(
      (
        await submit(cluster.url, {
          task_id: 'old-batch',
          model_ref: 'demo',
          prompt: 'x',
          max_tokens: 2,
          priority: 'batch',
        })
      ).status,
      202,
    );
    assert.equal(
      (await submit(cluster.url, { task_id: 'newcomer', model_ref: 'demo', prompt: 'x', max_tokens: 2 })).status,
      202,
    );
    const evicted = await followEvents(`${cluster.url}/v2/tasks/old-batch/events`, AT_ONCE);
    assert.equal(names(evicted.events), 'error', summarize(evicted.events));
    assert.equal(evicted.events[0]?.data['code'], 'QUEUE_FULL_DROP_LRU');
    assert.equal(evicted.events[0]?.data['retriable'], true);
    const refused = await submit(cluster.url, { task_id: 'second', model_ref: 'demo', prompt: 'x', max_tokens: 2 });
    assert.equal(refused.status, 429, 'interactive work is never evicted');
    await jsonRequest(`${cluster.url}/v2/tasks/hog/cancel`, { method: 'POST' });
    assert.match(
      names((await followEvents(`${cluster.url}/v2/tasks/newcomer/events`)).events),
      /^started,(token,){2}end$/,
    );
  });
});
