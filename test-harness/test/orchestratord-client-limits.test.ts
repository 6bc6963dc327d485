/**
 * What one client can hold of orchestratord: a slow client is cut by the header and request timeouts, the
 * connections are capped, and one identity holds at most ORCHD_MAX_STREAMS_PER_CLIENT event streams.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { request } from 'undici';
import type { ErrorEnvelope } from '@llama-orch/contracts';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { waitFor } from '../src/processes.ts';

interface Trickle {
  /** Everything the server sent before it closed. */
  readonly answer: string;
  /** Milliseconds from the connection to its close. */
  readonly closedAfterMs: number;
}

/** Send `head` at once, then `trickle` one byte every 200 ms; resolves when the server closes the connection. */
function trickleClient(url: string, head: string, trickle: string, budgetMs: number): Promise<Trickle> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect(Number(port), hostname);
    let answer = '';
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < trickle.length) socket.write(trickle[sent++] ?? '');
    }, 200);
    const budget = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the connection after ${budgetMs} ms (${sent} bytes trickled)`));
    }, budgetMs);
    socket.on('connect', () => socket.write(head));
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(budget);
      resolve({ answer, closedAfterMs: Date.now() - started });
    });
  });
}

const endless = (id: string) => ({
  task_id: id,
  model_ref: 'demo',
  prompt: 'Go on:',
  max_tokens: 100_000,
  ignore_eos: true,
});

describe('what one client can hold of orchestratord', { timeout: 5 * 60_000 }, () => {
  test('a client that sends its headers or its body a byte at a time is cut by the timeouts with 408', async (t) => {
    const orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: 'http://127.0.0.1:9',
      ORCHD_HEADERS_TIMEOUT_MS: '1000',
      ORCHD_REQUEST_TIMEOUT_MS: '2000',
    });
    t.after(orchestrator.stop);
    const slowHeaders = await trickleClient(
      orchestrator.url,
      'POST /v2/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n',
      'X-Slow: '.padEnd(200, 'a'),
      10_000,
    );
    assert.match(slowHeaders.answer, /^HTTP\/1\.1 408 /);
    assert.ok(slowHeaders.closedAfterMs >= 1000, `cut after ${slowHeaders.closedAfterMs} ms`);

    const body = JSON.stringify(endless('slow-body'));
    const slowBody = await trickleClient(
      orchestrator.url,
      `POST /v2/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      body,
      10_000,
    );
    assert.match(slowBody.answer, /^HTTP\/1\.1 408 /);
    assert.ok(slowBody.closedAfterMs >= 2000, `cut after ${slowBody.closedAfterMs} ms`);
    // The daemon lives on and the task never came in.
    assert.equal((await jsonRequest(`${orchestrator.url}/health`)).status, 200);
    assert.equal((await jsonRequest(`${orchestrator.url}/v2/tasks/slow-body/events`)).status, 404);
  });

  test('connections past ORCHD_MAX_CONNECTIONS are closed as they arrive, and one frees a place', async (t) => {
    const orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: 'http://127.0.0.1:9',
      ORCHD_MAX_CONNECTIONS: '3',
    });
    t.after(orchestrator.stop);
    const { hostname, port } = new URL(orchestrator.url);
    const open = (): Promise<{ socket: Socket; closed: Promise<number> }> =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const socket = connect(Number(port), hostname);
        const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now() - started)));
        socket.once('connect', () => resolve({ socket, closed }));
        socket.once('error', reject);
      });
    const held = [await open(), await open(), await open()];
    t.after(() => held.forEach((h) => h.socket.destroy()));
    // A request on a held connection is answered: they are real connections.
    held[0]?.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const extra = await open();
    const cutAfterMs = await Promise.race([
      extra.closed,
      new Promise<number>((_, reject) => setTimeout(() => reject(new Error('the 4th connection was kept')), 5_000)),
    ]);
    assert.ok(cutAfterMs < 5_000);
    held[1]?.socket.destroy();
    await held[1]?.closed;
    await waitFor('a place to free', async () =>
      (await request(`${orchestrator.url}/health`, { reset: true })
        .then((r) => r.statusCode)
        .catch(() => 0)) === 200
        ? true
        : undefined,
    );
  });

  test('one client holds at most ORCHD_MAX_STREAMS_PER_CLIENT event streams; a closed one frees its place', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]], {
      ORCHD_MAX_STREAMS_PER_CLIENT: '2',
      ORCHD_RECONNECT_GRACE_MS: '60000',
    });
    t.after(cluster.cleanup);
    for (const id of ['s1', 's2', 's3'])
      assert.equal((await jsonRequest(`${cluster.url}/v2/tasks`, { method: 'POST', body: endless(id) })).status, 202);
    const follow = (id: string) =>
      request(`${cluster.url}/v2/tasks/${id}/events`, { headers: { accept: 'text/event-stream' } });
    const first = await follow('s1');
    const second = await follow('s2');
    assert.deepEqual([first.statusCode, second.statusCode], [200, 200]);

    const third = await follow('s3');
    assert.equal(third.statusCode, 429);
    const refusal = (await third.body.json()) as ErrorEnvelope;
    assert.equal(refusal.code, 'TOO_MANY_STREAMS');
    assert.match(refusal.message, /already holds 2 open streams.*ORCHD_MAX_STREAMS_PER_CLIENT/);
    // A streamed OpenAI request is a stream too, refused in OpenAI's shape; a non-streamed one is not.
    const chat = { model: 'demo', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
    const streamed = await jsonRequest<{ error: { code: string } }>(`${cluster.url}/v1/chat/completions`, {
      method: 'POST',
      body: { ...chat, stream: true },
    });
    assert.equal(streamed.status, 429);
    assert.equal(streamed.body.error.code, 'too_many_streams');

    first.body.destroy();
    const again = await waitFor('the closed stream to free its place', async () => {
      const answer = await follow('s3');
      if (answer.statusCode === 200) return answer;
      await answer.body.dump();
      return undefined;
    });
    assert.equal(again.statusCode, 200);
    again.body.destroy();
    second.body.destroy();
    for (const id of ['s1', 's2', 's3'])
      await jsonRequest(`${cluster.url}/v2/tasks/${id}/cancel`, { method: 'POST' }).catch(() => undefined);
  });
});
