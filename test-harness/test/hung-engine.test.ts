/**
 * An engine that hangs mid-stream (SIGSTOP: its sockets stay open, nothing comes): orchestratord ends the task with
 * one DECODE_TIMEOUT after ORCHD_DECODE_TIMEOUT_MS, and pool-managerd kills the engine after
 * POOL_MANAGERD_HUNG_ENGINE_MS so that it is restarted; the pool serves again.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startCluster } from '../src/cluster.ts';
import { engineHandoff } from '../src/handoff-of.ts';
import { jsonRequest } from '../src/http-json.ts';
import { isAlive, killPid, waitFor } from '../src/processes.ts';
import { followEvents, summarize, type SseEvent } from '../src/sse.ts';
import { waitForPools } from '../src/wait-for-pools.ts';

const DECODE_TIMEOUT_MS = 2_000;
const HUNG_ENGINE_MS = 3_000;

describe('a hung engine', { timeout: 5 * 60_000 }, () => {
  test('ends its task with one DECODE_TIMEOUT and no token after it, is killed and restarted, and its pool serves again', async (t) => {
    process.env['POOL_MANAGERD_HUNG_ENGINE_MS'] = String(HUNG_ENGINE_MS);
    process.env['POOL_MANAGERD_HEALTH_INTERVAL_MS'] = '250';
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 65_536 }]], {
      ORCHD_DECODE_TIMEOUT_MS: String(DECODE_TIMEOUT_MS),
      ORCHD_SSE_KEEPALIVE_MS: '500',
    });
    t.after(cluster.cleanup);
    const node = cluster.nodes[0];
    assert.ok(node);
    const engine = await engineHandoff(node.proc.output(), 'demo-r0.json');
    // Whatever happens, the stopped engine does not outlive the test.
    t.after(() => {
      if (isAlive(engine.pid)) {
        process.kill(engine.pid, 'SIGCONT');
        killPid(engine.pid);
      }
    });

    const admitted = await jsonRequest(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      body: { task_id: 'hang', model_ref: 'demo', prompt: 'Go on:', max_tokens: 100_000, ignore_eos: true },
    });
    assert.equal(admitted.status, 202);
    let stoppedAt = 0;
    let tokens = 0;
    const followed = await followEvents(`${cluster.url}/v2/tasks/hang/events`, {
      timeoutMs: 30_000,
      onEvent: (event: SseEvent) => {
        if (event.event !== 'token') return;
        tokens += 1;
        if (tokens === 5) {
          process.kill(engine.pid, 'SIGSTOP');
          stoppedAt = Date.now();
        }
      },
    });
    const endedAfterMs = Date.now() - stoppedAt;
    const terminals = followed.events.filter((e) => e.event === 'end' || e.event === 'error');
    assert.equal(terminals.length, 1, summarize(followed.events));
    const last = followed.events.at(-1);
    assert.equal(last?.event, 'error', summarize(followed.events));
    assert.equal(last?.data['code'], 'DECODE_TIMEOUT');
    assert.match(
      String(last?.data['message']),
      /sent nothing for 2000 ms \(ORCHD_DECODE_TIMEOUT_MS\), after \d+ tokens/,
    );
    assert.ok(endedAfterMs >= DECODE_TIMEOUT_MS - 100, `ended ${endedAfterMs} ms after the stop`);

    // pool-managerd kills the engine it confirmed once it has been silent for the hung time; it comes back.
    await waitFor('the hung engine to be killed', () => (isAlive(engine.pid) ? undefined : true), 30_000);
    assert.match(node.proc.output(), new RegExp(`"pid":${engine.pid}.*"engine hung: killed so that it is restarted"`));
    const restarted = await waitFor(
      'a new engine',
      async () => {
        const handoff = await engineHandoff(node.proc.output(), 'demo-r0.json').catch(() => null);
        return handoff !== null && handoff.pid !== engine.pid ? handoff : undefined;
      },
      60_000,
    );
    assert.ok(isAlive(restarted.pid));
    await waitForPools(cluster.url, {}, (pools) => pools.some((p) => p.ready), 'the pool ready again', 60_000, 'hung');
    const again = await jsonRequest(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      body: { task_id: 'after', model_ref: 'demo', prompt: 'Hello', max_tokens: 4 },
    });
    assert.equal(again.status, 202);
    const events = await followEvents(`${cluster.url}/v2/tasks/after/events`, { timeoutMs: 60_000 });
    assert.equal(events.events.at(-1)?.event, 'end', summarize(events.events));
  });
});
