/**
 * What reaches orchestratord from a confused client, a hostile web page or a failing engine, on a real cluster:
 * each request gets a clear answer at once (never a hang, a retriable 503 for the client's own mistake, or a crash),
 * and every admitted task ends with exactly one terminal event.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import type { AdmissionResponse, ErrorEnvelope, PoolList } from '@llama-orch/contracts';
import { request } from 'undici';
import { startCluster } from '../src/cluster.ts';
import { engineHandoff } from '../src/handoff-of.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { jsonRequest } from '../src/http-json.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize, within } from '../src/sse.ts';

const submit = (url: string, body: Record<string, unknown>) =>
  jsonRequest<AdmissionResponse & ErrorEnvelope>(`${url}/v2/tasks`, { method: 'POST', body });
const chat = (url: string, body: Record<string, unknown>) =>
  jsonRequest<{ error?: { message: string; code: string }; usage?: { completion_tokens: number } }>(
    `${url}/v1/chat/completions`,
    { method: 'POST', body: { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], ...body } },
  );

describe('requests without loss', { timeout: 45 * 60_000 }, () => {
  test('answers a drained model at once with a retriable 503 naming the pool, on /v1 and /v2', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]]);
    t.after(cluster.cleanup);
    const drained = await jsonRequest(`${cluster.url}/v2/pools/demo/drain`, {
      method: 'POST',
      body: { deadline_ms: 0 },
    });
    assert.equal(drained.status, 200);
    // Offline, not merely draining: a draining pool may come back, so requests for it would wait.
    await waitFor('orchestratord to see the pool offline', async () => {
      const pools = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
      return pools.every((p) => p.state === 'offline') ? true : undefined;
    });
    const started = Date.now();
    const v1 = await chat(cluster.url, { max_tokens: 4 });
    const v2 = await submit(cluster.url, { model_ref: 'demo', prompt: 'x', max_tokens: 4 });
    assert.ok(Date.now() - started < 5_000, 'answered at once, not after a wait');
    assert.equal(v1.status, 503);
    assert.equal(v1.body.error?.code, 'pool_unavailable');
    assert.match(v1.body.error?.message ?? '', /pool demo is offline/);
    assert.equal(v2.status, 503);
    assert.equal(v2.body.code, 'POOL_UNAVAILABLE');
    assert.equal(v2.body.retriable, true);
  });

  test('answers what the engine refuses as the client’s 400 without trying another pool', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }], [{ id: 'demo-b', slots: 1 }]]);
    t.after(cluster.cleanup);
    const models = await jsonRequest<{ data: { id: string }[] }>(`${cluster.url}/v1/models`);
    assert.deepEqual(
      models.body.data.map((m) => m.id),
      ['demo', 'demo-b'],
      'model refs and pool ids both name a model',
    );
    const grammar = await chat(cluster.url, { grammar: 'root ::= (', max_tokens: 4 });
    assert.equal(grammar.status, 400, JSON.stringify(grammar.body));
    assert.equal(grammar.body.error?.code, 'invalid_params');
    assert.match(grammar.body.error?.message ?? '', /llama-server refused the request \(HTTP 400\)/);
    // A lone surrogate the engine cannot tokenize, and a prompt far past the context: both the client's to fix.
    const surrogate = await request(`${cluster.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":"demo","max_tokens":4,"messages":[{"role":"user","content":"hi \\ud800 there"}]}',
    });
    const surrogateBody = (await surrogate.body.json()) as { error?: { code: string; param: string | null } };
    assert.equal(surrogate.statusCode, 400);
    assert.equal(surrogateBody.error?.code, 'invalid_params');
    assert.equal(surrogateBody.error?.param, 'messages[0].content');
    const tooLong = await chat(cluster.url, {
      max_tokens: 4,
      messages: [{ role: 'user', content: 'word '.repeat(200_000) }],
    });
    assert.equal(tooLong.status, 400, JSON.stringify(tooLong.body).slice(0, 300));
    assert.equal(tooLong.body.error?.code, 'invalid_params');
    const streamed = await chat(cluster.url, { grammar: 'root ::= (', max_tokens: 4, stream: true });
    assert.equal(streamed.status, 400, 'a stream that never started is an HTTP error, not a 200 with an error chunk');
    const admitted = await submit(cluster.url, {
      task_id: 'bad-grammar',
      model_ref: 'demo',
      prompt: 'x',
      max_tokens: 4,
      grammar: 'root ::= (',
    });
    assert.equal(admitted.status, 202);
    const { events } = await followEvents(`${cluster.url}/v2/tasks/bad-grammar/events`, { timeoutMs: 10_000 });
    assert.equal(summarize(events), 'error');
    assert.equal(events[0]?.data['code'], 'INVALID_PARAMS');
    assert.equal(events[0]?.data['retriable'], false);
    // The log is written asynchronously: wait for the refusal line, then check it is the only one.
    const refusals = () =>
      cluster.orchestrator.proc
        .output()
        .split('\n')
        .filter((l) => l.includes('dispatch refused before the first token') && l.includes('bad-grammar'));
    await waitFor('the refusal in the log', () => (refusals().length > 0 ? true : undefined), 10_000);
    assert.equal(refusals().length, 1, 'one refusal: no other pool was tried');
  });

  test('bounds bodies before reading them: too large is 413, too deep is 400, and the daemon lives on', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]], { ORCHD_MAX_BODY_BYTES: String(1024 * 1024) });
    t.after(cluster.cleanup);
    // The limit is checked on the declared length, before the body is read: only the headers are sent.
    const big = await new Promise<{ status: number; body: ErrorEnvelope }>((resolve, reject) => {
      const req = httpRequest(`${cluster.url}/v2/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(5 * 1024 * 1024) },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as ErrorEnvelope });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(big.status, 413);
    assert.equal(big.body.code, 'PAYLOAD_TOO_LARGE');
    const deep = await request(`${cluster.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"model":"demo","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    });
    const deepBody = (await deep.body.json()) as { error: { message: string } };
    assert.equal(deep.statusCode, 400);
    assert.match(deepBody.error.message, /nested deeper than 64 levels/);
    assert.equal((await jsonRequest(`${cluster.url}/health`)).status, 200);
    assert.doesNotMatch(cluster.orchestrator.proc.output(), /RangeError|Maximum call stack/);
  });

  test('caps a /v1 request without max_tokens and logs it in the request log, and runs a task whose deadline is beyond 2^31 ms', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]], { ORCHD_DEFAULT_MAX_TOKENS: '8' });
    t.after(cluster.cleanup);
    const capped = await chat(cluster.url, { ignore_eos: true });
    assert.equal(capped.status, 200);
    assert.equal(capped.body.usage?.completion_tokens, 8);
    // The request log: one `task finished` line per task, /v1 included, with model, pool, tokens and times.
    const finished = await waitFor('the request log line of the chat', () =>
      cluster.orchestrator.proc
        .output()
        .split('\n')
        .filter((l) => l.includes('"task finished"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => String(l['task_id']).startsWith('chatcmpl-')),
    );
    assert.equal(finished['model'], 'demo');
    assert.equal(finished['pool_id'], 'demo');
    assert.equal(finished['outcome'], 'length');
    assert.equal(finished['tokens_out'], 8);
    assert.equal(typeof finished['first_token_ms'], 'number');
    const admitted = await submit(cluster.url, {
      task_id: 'far-deadline',
      model_ref: 'demo',
      prompt: 'x',
      max_tokens: 4,
      deadline_ms: 3_000_000_000,
    });
    assert.equal(admitted.status, 202);
    const { events } = await followEvents(`${cluster.url}/v2/tasks/far-deadline/events`, { timeoutMs: 10_000 });
    assert.equal(events.at(-1)?.event, 'end', summarize(events));
  });

  test('a second viewer leaving cancels nothing; the last one leaving cancels after the grace', async (t) => {
    // A long context, so a generation outlasts the grace on the fast demo engine.
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 32768 }]], { ORCHD_RECONNECT_GRACE_MS: '500' });
    t.after(cluster.cleanup);
    const body = { model_ref: 'demo', prompt: 'Go on:', max_tokens: 400, ignore_eos: true };
    assert.equal((await submit(cluster.url, { ...body, task_id: 'watched' })).status, 202);
    const first = followEvents(`${cluster.url}/v2/tasks/watched/events`, { timeoutMs: 60_000 });
    const leaving = new AbortController();
    const second = followEvents(`${cluster.url}/v2/tasks/watched/events`, { signal: leaving.signal });
    setTimeout(() => leaving.abort(), 300);
    await second;
    const { events } = await first;
    assert.equal(events.at(-1)?.event, 'end', summarize(events));
    assert.equal(events.at(-1)?.data['tokens_out'], 400, 'ran to its end for the viewer that stayed');

    assert.equal((await submit(cluster.url, { ...body, task_id: 'abandoned', max_tokens: 100_000 })).status, 202);
    const gone = new AbortController();
    const only = followEvents(`${cluster.url}/v2/tasks/abandoned/events`, {
      signal: gone.signal,
      onEvent: (e) => {
        if (e.event === 'token') gone.abort();
      },
    });
    await only;
    const reconnected = await followEvents(`${cluster.url}/v2/tasks/abandoned/events`, {
      signal: AbortSignal.timeout(200),
    });
    assert.equal(reconnected.events[0]?.event, 'started', 'a client reconnecting within the grace replays the task');
    assert.ok(
      reconnected.events.every((e) => e.event !== 'end' && e.event !== 'error'),
      `the task still ran when its client came back: ${summarize(reconnected.events)}`,
    );
    // Nobody follows now: the task is canceled once the grace has passed (asked of the task itself: following its
    // events would make a viewer again).
    await waitFor(
      'the abandoned task to be canceled',
      async () => {
        const status = await jsonRequest<{ state: string }>(`${cluster.url}/v2/tasks/abandoned`);
        return status.body.state === 'canceled' ? true : undefined;
      },
      10_000,
    );
    const after = await followEvents(`${cluster.url}/v2/tasks/abandoned/events`, { timeoutMs: 10_000 });
    assert.equal(after.events.at(-1)?.data['finish_reason'], 'canceled', 'canceled once nobody came back');
  });

  test('refuses a web page driving the node: foreign Origin, foreign Host, and a text/plain POST', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]]);
    t.after(cluster.cleanup);
    const post = async (path: string, headers: Record<string, string>, body: string) => {
      const answer = await request(`${cluster.url}${path}`, { method: 'POST', headers, body });
      return { status: answer.statusCode, body: (await answer.body.json()) as ErrorEnvelope };
    };
    const csrf = await post(
      '/v2/pools/demo/drain',
      { 'content-type': 'text/plain', origin: 'http://evil.example' },
      '{"deadline_ms":0}',
    );
    assert.equal(csrf.status, 403);
    assert.match(csrf.body.message, /Origin http:\/\/evil.example is not allowed/);
    const plain = await post('/v2/pools/demo/drain', { 'content-type': 'text/plain' }, '{"deadline_ms":0}');
    assert.equal(plain.status, 400);
    assert.match(plain.body.message, /content-type: must be application\/json/);
    const rebound = await post(
      '/v2/tasks',
      { 'content-type': 'application/json', host: 'evil.example' },
      '{"model_ref":"demo","prompt":"x","max_tokens":1}',
    );
    assert.equal(rebound.status, 403);
    assert.match(rebound.body.message, /Host evil.example is not a name this server answers to/);
    const node = cluster.nodes[0];
    assert.ok(node);
    const direct = await request(`${node.url}/v2/pools/demo/drain`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'http://evil.example' },
      body: '{"deadline_ms":0}',
    });
    assert.equal(direct.statusCode, 403, 'pool-managerd on loopback refuses it too');
    await direct.body.dump();
    const pools = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
    assert.equal(pools[0]?.ready, true, 'the pool still serves');
  });

  test('an engine killed mid-load fails only what it was running; the queue waits for its restart', async (t) => {
    // Tasks long enough that the pool is seen full before the kill (the demo engine is fast).
    const cluster = await startCluster([[{ id: 'demo', slots: 2, ctx: 32_768 }]]);
    t.after(cluster.cleanup);
    const node = cluster.nodes[0];
    assert.ok(node);
    const handoff = await engineHandoff(node.proc.output(), 'demo-r0.json');
    const ids = Array.from({ length: 12 }, (_, i) => `crash-${i}`);
    for (const id of ids)
      assert.equal(
        (
          await submit(cluster.url, {
            task_id: id,
            model_ref: 'demo',
            prompt: 'Go on:',
            max_tokens: 1000,
            ignore_eos: true,
          })
        ).status,
        202,
      );
    const streams = ids.map((id) => followEvents(`${cluster.url}/v2/tasks/${id}/events`, { timeoutMs: 90_000 }));
    await waitFor('two tasks streaming', async () => {
      const health = await jsonRequest<{ metrics: { slots_free: number } }>(`${cluster.url}/v2/pools/demo/health`);
      return health.body.metrics.slots_free === 0 ? true : undefined;
    });
    process.kill(handoff.pid, 'SIGKILL');
    const outcomes = await within('every task of the crash to end', 90_000, () => Promise.all(streams));
    const errors = outcomes.filter((o) => o.events.at(-1)?.event === 'error');
    const ended = outcomes.filter((o) => o.events.at(-1)?.event === 'end');
    assert.equal(errors.length + ended.length, ids.length, 'every task ended exactly once');
    assert.ok(
      errors.length <= 2,
      `only the tasks running at the kill may fail: ${errors.map((o) => JSON.stringify(o.events.at(-1)?.data)).join('\n')}`,
    );
    for (const o of errors) assert.notEqual(o.events.at(-1)?.data['code'], 'POOL_UNAVAILABLE');
  });

  test('stopping orchestratord ends every open stream with one retriable error before its socket closes', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 2, ctx: 32768 }]]);
    t.after(cluster.cleanup);
    const long = { model_ref: 'demo', prompt: 'Go on:', max_tokens: 30_000, ignore_eos: true };
    assert.equal((await submit(cluster.url, { ...long, task_id: 'open-v2' })).status, 202);
    let streaming = 0;
    const onFirstToken = (() => {
      let seen = false;
      return () => {
        if (!seen) streaming += 1;
        seen = true;
      };
    })();
    const v2 = followEvents(`${cluster.url}/v2/tasks/open-v2/events`, {
      onEvent: (e) => {
        if (e.event === 'token') onFirstToken();
      },
    });
    let v1Chunks = 0;
    const v1 = followEvents(`${cluster.url}/v1/completions`, {
      method: 'POST',
      body: { model: 'demo', prompt: 'Go on:', max_tokens: 30_000, ignore_eos: true, stream: true },
      onEvent: () => {
        v1Chunks += 1;
      },
    });
    await waitFor('both streams flowing', () => (streaming === 1 && v1Chunks > 1 ? true : undefined));
    cluster.orchestrator.proc.child.kill('SIGTERM');
    const [native, openai] = await within('both streams to end', 20_000, () => Promise.all([v2, v1]));
    const last = native.events.at(-1);
    assert.equal(last?.event, 'error', summarize(native.events));
    assert.equal(last?.data['retriable'], true);
    assert.equal(native.events.filter((e) => e.event === 'error' || e.event === 'end').length, 1);
    const error = openai.events.find((e) => 'error' in e.data);
    assert.ok(error, 'the /v1 stream got an error chunk');
    assert.equal(openai.events.filter((e) => 'error' in e.data || e.data['raw'] === '[DONE]').length, 1);
    assert.equal(await cluster.orchestrator.proc.exited, 0);
  });

  test('a task admitted just before the stop: its client, asking after the SIGTERM, still reads its one terminal event; new submissions get a retriable 503', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 2, ctx: 32768 }]]);
    t.after(cluster.cleanup);
    const long = { model_ref: 'demo', prompt: 'Go on:', max_tokens: 30_000, ignore_eos: true };
    assert.equal((await submit(cluster.url, { ...long, task_id: 'given-202' })).status, 202);
    // Nobody follows it yet when the stop begins.
    cluster.orchestrator.proc.child.kill('SIGTERM');
    await waitFor('the stop to begin', () =>
      cluster.orchestrator.proc.output().includes('"orchestratord stopping"') ? true : undefined,
    );
    const late = await submit(cluster.url, { ...long, task_id: 'after-the-stop' });
    assert.equal(late.status, 503, JSON.stringify(late.body));
    assert.equal(late.body.code, 'POOL_UNAVAILABLE');
    assert.equal(late.body.retriable, true);
    assert.equal(late.headers['retry-after'], '1');
    const events = (await followEvents(`${cluster.url}/v2/tasks/given-202/events`, { timeoutMs: 10_000 })).events;
    assert.deepEqual(
      events.filter((e) => e.event === 'error' || e.event === 'end').map((e) => [e.event, e.data['code']]),
      [['error', 'POOL_UNAVAILABLE']],
      summarize(events),
    );
    assert.equal(await cluster.orchestrator.proc.exited, 0);
  });

  test('two orchestratord replicas share one pool: a busy answer sends the task back to the queue, never fails it', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]]);
    t.after(cluster.cleanup);
    const node = cluster.nodes[0];
    assert.ok(node);
    const second = await startOrchestratord({ ORCHD_POOL_MANAGERS: node.url, ORCHD_POOL_POLL_INTERVAL_MS: '1000' });
    t.after(second.stop);
    await waitFor('the second replica to see the pool', async () => {
      const pools = (await jsonRequest<PoolList>(`${second.url}/v2/pools`)).body.pools;
      return pools.some((p) => p.ready) ? true : undefined;
    });
    const ids = Array.from({ length: 8 }, (_, i) => `shared-${i}`);
    for (const [i, id] of ids.entries()) {
      const url = i % 2 === 0 ? cluster.url : second.url;
      assert.equal(
        (await submit(url, { task_id: id, model_ref: 'demo', prompt: 'Go on:', max_tokens: 48, ignore_eos: true }))
          .status,
        202,
      );
    }
    const outcomes = await within('every task on both replicas to end', 60_000, () =>
      Promise.all(
        ids.map((id, i) =>
          followEvents(`${i % 2 === 0 ? cluster.url : second.url}/v2/tasks/${id}/events`, { timeoutMs: 60_000 }),
        ),
      ),
    );
    for (const o of outcomes) assert.equal(o.events.at(-1)?.event, 'end', summarize(o.events));
    const busy = [cluster.orchestrator, second]
      .flatMap((o) => o.proc.output().split('\n'))
      .filter((l) => l.includes('dispatch refused before the first token') && l.includes('REPLICA_EXHAUSTED'));
    assert.ok(busy.length > 0, 'the replicas did contend for the one slot');
    const metrics = await request(`${node.url}/metrics`).then((r) => r.body.text());
    const ok = /pool_dispatch_total\{[^}]*outcome="ok"[^}]*\} (\d+)/.exec(metrics)?.[1];
    assert.equal(ok, '8', 'each task ran exactly once');
  });
});
