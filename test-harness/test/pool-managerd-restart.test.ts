/**
 * pool-managerd in watch-only mode (CLOUD: engine-provisioner runs beside it) keeps no state of its own: killed
 * with -9 and started again, it rebuilds its registry from the handoff files and adopts the engines that still run —
 * same pids, not restarted — and serves them again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { PoolStatus } from '@llama-orch/contracts';
import { demoEngines } from '../src/demo-node.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { isAlive, waitFor } from '../src/processes.ts';
import { readHandoff } from '../src/provisioner-cli.ts';

const status = async (url: string, pool: string): Promise<PoolStatus | null> => {
  const answer = await jsonRequest<PoolStatus>(`${url}/v2/pools/${pool}/status`).catch(() => null);
  return answer?.status === 200 ? answer.body : null;
};

describe('pool-managerd restarted beside running engines', { timeout: 10 * 60_000 }, () => {
  test('kill -9 and a new start adopt the running engines from their handoffs: same pids, ready again, dispatching', async (t) => {
    const engines = await demoEngines([
      { id: 'a', slots: 1 },
      { id: 'b', slots: 2 },
    ]);
    t.after(engines.cleanup);
    const env = { POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir, POOL_MANAGERD_HEALTH_INTERVAL_MS: '200' };
    const first = await startPoolManagerd(env);
    t.after(first.stop);
    for (const pool of ['a', 'b'])
      await waitFor(`${pool} ready`, async () => ((await status(first.url, pool))?.ready ? true : undefined), 30_000);
    const before = await Promise.all(['a', 'b'].map((p) => readHandoff(join(engines.handoffDir, `${p}-r0.json`))));

    first.proc.child.kill('SIGKILL');
    await first.proc.exited;
    // The engines do not depend on the pool-managerd that watched them.
    for (const handoff of before) assert.ok(handoff && isAlive(handoff.pid), `engine ${handoff?.pool_id} still runs`);

    const second = await startPoolManagerd(env);
    t.after(second.stop);
    const startedAt = Date.now();
    for (const pool of ['a', 'b'])
      await waitFor(
        `${pool} ready again`,
        async () => ((await status(second.url, pool))?.ready ? true : undefined),
        30_000,
      );
    const adoptedMs = Date.now() - startedAt;
    const after = await Promise.all(['a', 'b'].map((p) => readHandoff(join(engines.handoffDir, `${p}-r0.json`))));
    assert.deepEqual(
      after.map((h) => h?.pid),
      before.map((h) => h?.pid),
      'the same engines, not restarted',
    );
    assert.equal((await status(second.url, 'b'))?.slots_total, 2);
    assert.ok(adoptedMs < 5_000, `both pools ready ${adoptedMs} ms after the start`);
    const metrics = await fetch(`${second.url}/metrics`).then((r) => r.text());
    assert.doesNotMatch(metrics, /pool_engine_restarts_total\{pool_id="(a|b)"\} [1-9]/);

    const dispatch = await jsonRequest<{ choices: { message: { content: string } }[] }>(
      `${second.url}/v2/pools/b/dispatch`,
      {
        method: 'POST',
        body: {
          endpoint: '/v1/chat/completions',
          body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: false },
        },
        timeoutMs: 30_000,
      },
    );
    assert.equal(dispatch.status, 200);
    assert.ok(typeof dispatch.body.choices[0]?.message.content === 'string');
  });
});
