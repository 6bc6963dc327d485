import assert from 'node:assert/strict';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { request } from 'undici';
import type { PoolList, PoolStatus } from '@llama-orch/contracts';
import { demoEngines } from '../src/demo-node.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { readHandoff } from '../src/provisioner-cli.ts';

const status = async (url: string, pool: string): Promise<PoolStatus> =>
  (await jsonRequest<PoolStatus>(`${url}/v2/pools/${pool}/status`)).body;

describe('pool-managerd watching handoff files of real engines', { timeout: 45 * 60_000 }, () => {
  test('a handoff makes its pool ready within a second; kill -9 takes it offline until the restart; unlink takes it offline', async (t) => {
    const engines = await demoEngines([{ id: 'watch', slots: 2 }], { initialMs: 1500 });
    t.after(engines.cleanup);
    const pm = await startPoolManagerd({
      POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir,
      POOL_MANAGERD_HEALTH_INTERVAL_MS: '200',
      POOL_MANAGERD_FORGET_POOL_AFTER_MS: '3000',
    });
    t.after(pm.stop);
    const first = await waitFor(
      'the pool to be ready',
      async () => ((await status(pm.url, 'watch')).ready ? true : undefined),
      10_000,
    );
    assert.equal(first, true);
    const ready = await status(pm.url, 'watch');
    assert.equal(ready.state, 'ready');
    assert.equal(ready.slots_total, 2);
    assert.equal(ready.slots_free, 2);
    assert.equal(ready.device, 'cpu');
    assert.equal(ready.vram_total_bytes, null);

    // A new handoff (another pool's file appearing) is seen within the detection budget.
    const handoff = await readHandoff(join(engines.handoffDir, 'watch-r0.json'));
    assert.ok(handoff);
    const copy = { ...handoff, pool_id: 'copy' };
    const written = Date.now();
    await writeFile(join(engines.handoffDir, '.copy-r0.json.tmp'), JSON.stringify(copy));
    await rename(join(engines.handoffDir, '.copy-r0.json.tmp'), join(engines.handoffDir, 'copy-r0.json'));
    await waitFor(
      'the copied pool to be ready',
      async () =>
        (await jsonRequest(`${pm.url}/v2/pools/copy/status`)).status === 200 && (await status(pm.url, 'copy')).ready
          ? true
          : undefined,
      2_000,
      20,
    );
    const detectedMs = Date.now() - written;
    assert.ok(detectedMs < 1000, `ready ${detectedMs} ms after the write`);

    process.kill(handoff.pid, 'SIGKILL');
    const down = await waitFor('the pool to leave ready', async () => {
      const s = await status(pm.url, 'watch');
      return s.ready ? undefined : s;
    });
    assert.equal(down.live, false);
    assert.match(down.last_error ?? '', /gone|unreachable|not healthy/);
    const back = await waitFor(
      'the restarted engine to be ready',
      async () => ((await status(pm.url, 'watch')).ready ? true : undefined),
      30_000,
    );
    assert.equal(back, true);
    const restarts = await request(`${pm.url}/metrics`).then((r) => r.body.text());
    assert.match(restarts, /pool_engine_restarts_total\{pool_id="watch"\} 1/);

    await engines.provisioner.stop();
    const gone = await waitFor('the pool to be offline after unlink', async () => {
      const s = await status(pm.url, 'watch');
      return s.state === 'offline' ? s : undefined;
    });
    assert.equal(gone.ready, false);
    assert.equal(gone.slots_total, 0);
    // Offline is not forever: with no handoff left, the pool leaves the list after POOL_MANAGERD_FORGET_POOL_AFTER_MS;
    // the copy, whose file is still there, stays.
    const unlinkedAt = Date.now();
    const forgotten = await waitFor(
      'the pool to be forgotten',
      async () => {
        const pools = (await jsonRequest<PoolList>(`${pm.url}/v2/pools`)).body.pools.map((p) => p.pool_id);
        return pools.includes('watch') ? undefined : pools;
      },
      15_000,
    );
    assert.ok(Date.now() - unlinkedAt >= 2_500, `forgotten ${Date.now() - unlinkedAt} ms after the unlink`);
    assert.deepEqual(forgotten, ['copy']);
    assert.equal((await jsonRequest(`${pm.url}/v2/pools/watch/status`)).status, 404);
    assert.match(pm.proc.output(), /"pool_id":"watch".*"pool forgotten: no handoff left"/);
  });

  test('malformed, partial, unknown-version and misnamed handoffs are logged with their reason and ignored', async (t) => {
    const engines = await demoEngines([{ id: 'good', slots: 1 }]);
    t.after(engines.cleanup);
    const pm = await startPoolManagerd({
      POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir,
      POOL_MANAGERD_WATCH_INTERVAL_MS: '100',
    });
    t.after(pm.stop);
    const good = await readHandoff(join(engines.handoffDir, 'good-r0.json'));
    assert.ok(good);
    await writeFile(join(engines.handoffDir, 'broken-r0.json'), '{"schema_version": 1, "pool_id": ');
    await writeFile(
      join(engines.handoffDir, 'future-r0.json'),
      JSON.stringify({ ...good, pool_id: 'future', schema_version: 2 }),
    );
    await writeFile(
      join(engines.handoffDir, 'lan-r0.json'),
      JSON.stringify({ ...good, pool_id: 'lan', url: 'http://10.0.0.8:8080' }),
    );
    await writeFile(join(engines.handoffDir, 'wrong-name.json'), JSON.stringify({ ...good, pool_id: 'named' }));
    await waitFor(
      'four ignored files in the log',
      () => ((pm.proc.output().match(/ignoring handoff file/g) ?? []).length >= 4 ? true : undefined),
      10_000,
    );
    const log = pm.proc.output();
    assert.match(log, /broken-r0\.json.*not JSON/);
    assert.match(log, /future-r0\.json.*schema_version: unsupported schema_version; this build reads version 1/);
    assert.match(log, /lan-r0\.json.*url: must be http:\/\/127\.0\.0\.1:<port>/);
    assert.match(log, /wrong-name\.json.*must be named named-r0\.json/);
    const pools = (await jsonRequest<PoolList>(`${pm.url}/v2/pools`)).body.pools.map((p) => p.pool_id);
    assert.deepEqual(pools, ['good']);
    assert.equal((await jsonRequest(`${pm.url}/health`)).status, 200);
    const metrics = await request(`${pm.url}/metrics`).then((r) => r.body.text());
    assert.match(metrics, /pool_handoff_files_processed_total\{outcome="invalid"\} 4/);
    assert.ok(
      (await stat(join(engines.handoffDir, 'broken-r0.json'))).isFile(),
      'pool-managerd never deletes what it did not write',
    );
    assert.equal((await readFile(join(engines.handoffDir, 'good-r0.json'), 'utf8')).includes('"good"'), true);
  });
});
