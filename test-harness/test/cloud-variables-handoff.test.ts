import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { request } from 'undici';
import type { PoolStatus } from '@llama-orch/contracts';
import type { DaemonProcess } from '../src/daemon-process.ts';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { isAlive, killPid, stopProcess, waitFor, type RunningProcess } from '../src/processes.ts';
import { handoffsIn, readHandoff, runProvisioner } from '../src/provisioner-cli.ts';

const status = async (url: string): Promise<PoolStatus> =>
  (await jsonRequest<PoolStatus>(`${url}/v2/pools/side/status`)).body;

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/** A counter's value on a pool-managerd's /metrics, 0 while the series does not exist. */
async function counter(url: string, series: string): Promise<number> {
  const text = await request(`${url}/metrics`).then((r) => r.body.text());
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe(
  'the engine-provisioner sidecar and pool-managerd sharing a handoff directory',
  { timeout: 45 * 60_000 },
  () => {
    test('ENGINE_PROVISIONER_HANDOFF_DIR and _CACHE_DIR place the handoff and the engine; POOL_MANAGERD_AUTO_DELETE_HANDOFF=true deletes the handoff of a gone engine once its pool is offline, unset keeps it', async (t) => {
      const fixture = await testEngine();
      const dir = await mkdtemp(join(tmpdir(), 'llorch-sidecar-'));
      const started: RunningProcess[] = [];
      const daemons: DaemonProcess[] = [];
      const engines = new Set<number>();
      t.after(async () => {
        for (const daemon of daemons) await daemon.stop();
        for (const proc of started) await stopProcess(proc);
        for (const pid of engines) killPid(pid);
        await rm(dir, { recursive: true, force: true });
      });
      // The config names other directories: only the variables can put the handoff and the cache where they are.
      const configFile = join(dir, 'node.yaml');
      await writeFile(
        configFile,
        `node_id: sidecar\nruntime_dir: ${dir}/config-runtime\ncache_dir: ${dir}/config-cache\nengine: { device: cpu }\npools:\n  - { id: side, model: demo, ctx: 512, slots: 1 }\n`,
      );
      const runtimeDir = join(dir, 'shared');
      const handoffDir = join(runtimeDir, 'engines');
      const handoffFile = join(handoffDir, 'side-r0.json');
      const sidecar = async (): Promise<{ proc: RunningProcess; pid: number }> => {
        const proc = runProvisioner(['up', '--config', configFile], {
          ENGINE_PROVISIONER_HANDOFF_DIR: handoffDir,
          ENGINE_PROVISIONER_CACHE_DIR: fixture.cacheDir,
        });
        started.push(proc);
        const before = (await readHandoff(handoffFile).catch(() => undefined))?.pid;
        const handoff = await waitFor(
          'the sidecar to write a new handoff',
          async () => {
            if (proc.child.exitCode !== null) throw new Error(`engine-provisioner exited:\n${proc.output()}`);
            const h = await readHandoff(handoffFile).catch(() => undefined);
            return h !== undefined && h.pid !== before && isAlive(h.pid) ? h : undefined;
          },
          120_000,
        );
        engines.add(handoff.pid);
        assert.equal(
          handoff.model.path.startsWith(fixture.cacheDir),
          true,
          'the model comes from ENGINE_PROVISIONER_CACHE_DIR',
        );
        return { proc, pid: handoff.pid };
      };
      /** The sidecar dies with SIGKILL (no clean-up of its handoff) and its engine with it: the engine is gone. */
      const killSidecar = async (s: { proc: RunningProcess; pid: number }): Promise<void> => {
        s.proc.child.kill('SIGKILL');
        await s.proc.exited;
        killPid(s.pid);
        await waitFor('the engine to be gone', () => (isAlive(s.pid) ? undefined : true), 10_000);
      };

      // Unset: a gone engine's handoff stays (the pool offline), however many checks see it gone.
      const first = await sidecar();
      assert.deepEqual(
        await handoffsIn(join(dir, 'config-runtime', 'engines')),
        [],
        'nothing in the config runtime_dir',
      );
      assert.equal(await exists(join(dir, 'config-cache')), false, 'nothing in the config cache_dir');
      const keeping = await startPoolManagerd({
        POOL_MANAGERD_RUNTIME_DIR: runtimeDir,
        POOL_MANAGERD_HEALTH_INTERVAL_MS: '100',
      });
      daemons.push(keeping);
      await waitFor('the pool ready', async () => ((await status(keeping.url)).ready ? true : undefined), 10_000);
      await killSidecar(first);
      await waitFor('the pool offline', async () =>
        (await status(keeping.url)).state === 'offline' ? true : undefined,
      );
      const series = 'pool_health_checks_total{pool_id="side",outcome="gone"}';
      await waitFor('five checks finding the engine gone', async () =>
        (await counter(keeping.url, series)) >= 5 ? true : undefined,
      );
      assert.equal(await exists(handoffFile), true, 'without POOL_MANAGERD_AUTO_DELETE_HANDOFF the handoff stays');
      await keeping.stop();

      // true: once the pool is marked offline, the handoff goes; the watcher drops the replica.
      const second = await sidecar();
      const deleting = await startPoolManagerd({
        POOL_MANAGERD_RUNTIME_DIR: runtimeDir,
        POOL_MANAGERD_HEALTH_INTERVAL_MS: '100',
        POOL_MANAGERD_AUTO_DELETE_HANDOFF: 'true',
      });
      daemons.push(deleting);
      await waitFor(
        'the pool ready again',
        async () => ((await status(deleting.url)).ready ? true : undefined),
        10_000,
      );
      await killSidecar(second);
      await waitFor('the handoff deleted', async () => ((await exists(handoffFile)) ? undefined : true), 10_000);
      const removed = 'pool_handoff_files_processed_total{outcome="removed"}';
      await waitFor('the watcher to drop the replica', async () =>
        (await counter(deleting.url, removed)) === 1 ? true : undefined,
      );
      const gone = await status(deleting.url);
      assert.equal(gone.state, 'offline');
      assert.equal(gone.ready, false);
      assert.equal(gone.slots_total, 0);
      const log = deleting.proc.output();
      const offlineAt = log.indexOf('pool side ready → offline');
      const deletedAt = log.indexOf('engine gone: handoff deleted');
      assert.ok(offlineAt >= 0 && deletedAt > offlineAt, `marked offline, then deleted:\n${log}`);
      assert.deepEqual(await handoffsIn(handoffDir), [], 'no handoff and no file set aside is left');
    });
  },
);
