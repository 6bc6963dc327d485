/**
 * How a relayed `/v1` stream behaves when its engine goes quiet or dies, on a real cluster: keep-alive comments
 * while it is quiet, and one error the client sees when it dies after the answer began — never a silent cut.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { startCluster } from '../src/cluster.ts';
import { engineHandoff } from '../src/handoff-of.ts';
import { STREAM_BUDGET_MS, within } from '../src/sse.ts';

const LONG_CHAT = {
  model: 'demo',
  messages: [{ role: 'user', content: 'Go on' }],
  max_tokens: 30_000,
  stream: true,
  ignore_eos: true,
};

describe('relayed /v1 streams when the engine goes quiet or dies', { timeout: 10 * 60_000 }, () => {
  test('a quiet stream gets keep-alive comments; an engine killed mid-answer ends it with one error chunk, no [DONE]', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 32_768 }]], { ORCHD_SSE_KEEPALIVE_MS: '300' });
    t.after(cluster.cleanup);
    const node = cluster.nodes[0];
    assert.ok(node);
    const engine = await engineHandoff(node.proc.output(), 'demo-r0.json');

    let text = '';
    let stopped = false;
    let killed = false;
    const answer = await within(
      'the stream the engine dies under',
      STREAM_BUDGET_MS,
      async (signal) => {
        const response = await request(`${cluster.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(LONG_CHAT),
          signal,
        });
        for await (const chunk of response.body) {
          text += (chunk as Buffer).toString('utf8');
          if (!stopped && text.includes('"content":"Hello"')) {
            // The answer has begun: the engine goes quiet (a hang), then dies.
            stopped = true;
            process.kill(engine.pid, 'SIGSTOP');
          }
          if (stopped && !killed && text.endsWith(': keep-alive\n\n')) {
            killed = true;
            process.kill(engine.pid, 'SIGKILL');
          }
        }
        return response;
      },
      () => `stopped ${stopped}, killed ${killed}, read: …${text.slice(-300)}`,
    );
    assert.equal(answer.statusCode, 200);
    assert.equal(answer.headers['x-accel-buffering'], 'no');
    assert.equal(answer.headers['content-type'], 'text/event-stream');
    assert.ok(killed, 'a keep-alive comment came while the engine was quiet');
    const frames = text
      .split('\n\n')
      .filter((f) => f.startsWith('data: '))
      .map((f) => f.slice('data: '.length));
    assert.ok(!frames.includes('[DONE]'), 'a broken answer does not end as if it were whole');
    const last = JSON.parse(frames.at(-1) ?? '{}') as { error?: { code: string; message: string } };
    assert.equal(last.error?.code, 'worker_reset', `the last frame is the error: ${frames.at(-1)}`);
    assert.equal(frames.filter((f) => f.includes('"error"')).length, 1, 'exactly one error');
  });
});
