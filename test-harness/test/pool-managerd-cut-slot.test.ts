/**
 * A dispatch cut by its client frees pool-managerd's slot at once, but llama-server frees its own only when it
 * notices — at its next write, or when a stopped engine runs again. Until then pool-managerd asks the engine before
 * it sends more: the engine never holds more requests than its slots (no request queued inside it, out of sight).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { request } from 'undici';
import type { ErrorEnvelope } from '@llama-orch/contracts';
import { demoEngines } from '../src/demo-node.ts';
import { engineRequestsHeld } from '../src/engine-load.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { isAlive, waitFor } from '../src/processes.ts';
import { readHandoff } from '../src/provisioner-cli.ts';

const long = {
  endpoint: '/completion',
  body: { prompt: 'Count:', n_predict: 100_000, stream: true, ignore_eos: true },
};
const short = { endpoint: '/completion', body: { prompt: 'Hi', n_predict: 2, stream: false } };

/**
 * A pool of one slot on a real engine behind pool-managerd, and a long stream through it that has begun (its first
 * token came); `cut` aborts that stream's client. The engine is sent SIGCONT when the test ends, whatever it did.
 */
async function streaming(t: TestContext) {
  const engines = await demoEngines([{ id: 'one', slots: 1, ctx: 65_536 }]);
  t.after(engines.cleanup);
  const pm = await startPoolManagerd({ POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir });
  t.after(pm.stop);
  await waitFor('the pool ready', async () =>
    (await jsonRequest<{ ready: boolean }>(`${pm.url}/v2/pools/one/status`)).body.ready ? true : undefined,
  );
  const engine = await readHandoff(join(engines.handoffDir, 'one-r0.json'));
  assert.ok(engine);
  t.after(() => {
    if (isAlive(engine.pid)) process.kill(engine.pid, 'SIGCONT');
  });
  const cut = new AbortController();
  const first = await request(`${pm.url}/v2/pools/one/dispatch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(long),
    signal: cut.signal,
  });
  assert.equal(first.statusCode, 200);
  for await (const chunk of first.body) if (String(chunk).includes('"content"')) break;
  return { pm, engine, cut };
}

describe('a dispatch cut while its engine still runs it', { timeout: 5 * 60_000 }, () => {
  test('holds back the next dispatch until the engine has freed the slot, so the engine never holds more than its slots', async (t) => {
    const { pm, engine, cut } = await streaming(t);
    // A long stream holds the one slot; the engine is stopped under it and its client goes away.
    process.kill(engine.pid, 'SIGSTOP');
    cut.abort();

    // The engine may still run the cut request: its slot stays held until the engine says otherwise, so the next
    // dispatch is refused, retriable (busy, or the pool unready once its health check finds the engine stopped).
    const refused = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/one/dispatch`, {
      method: 'POST',
      body: short,
      timeoutMs: 10_000,
    });
    assert.equal(refused.status, 503);
    assert.ok(['REPLICA_EXHAUSTED', 'POOL_UNREADY'].includes(refused.body.code), JSON.stringify(refused.body));
    assert.equal(refused.body.retriable, true);
    const status = await jsonRequest<{ slots_free: number }>(`${pm.url}/v2/pools/one/status`);
    assert.equal(status.body.slots_free, 0, 'the cut request’s slot is still counted');

    // Once the engine runs again and drops the cut request, the next dispatch goes through; it never held two.
    process.kill(engine.pid, 'SIGCONT');
    const served = await waitFor(
      'a dispatch to be served',
      async () => {
        const answer = await jsonRequest(`${pm.url}/v2/pools/one/dispatch`, {
          method: 'POST',
          body: short,
          timeoutMs: 10_000,
        });
        return answer.status === 200 ? answer : undefined;
      },
      30_000,
    );
    assert.equal(served.status, 200);
    const held = await engineRequestsHeld(engine.url);
    assert.ok(held !== null && held <= 1, `the engine holds ${held} requests`);
    assert.doesNotMatch(
      await request(`${engine.url}/metrics`).then((r) => r.body.text()),
      /^llamacpp:requests_deferred [1-9]/m,
    );
  });
  test('a dispatch right after a cut waits for the engine to let go of it, and is served on the same pool', async (t) => {
    const { pm, engine, cut } = await streaming(t);
    // The engine is slow to notice the cut (stopped for 300 ms: a token that takes that long); the next dispatch comes
    // meanwhile. It must wait for the slot, not be refused and sent to another pool.
    process.kill(engine.pid, 'SIGSTOP');
    cut.abort();
    await new Promise((resolve) => setTimeout(resolve, 50)); // pool-managerd has seen the cut
    const next = jsonRequest(`${pm.url}/v2/pools/one/dispatch`, { method: 'POST', body: short, timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(engine.pid, 'SIGCONT');
    const served = await next;
    assert.equal(served.status, 200, JSON.stringify(served.body));
    const held = await engineRequestsHeld(engine.url);
    assert.ok(held !== null && held <= 1, `the engine holds ${held} requests`);
  });
});
