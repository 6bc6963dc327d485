import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { fakeGpuHost } from '../src/fake-gpu.ts';
import { freePort } from '../src/free-port.ts';
import { ORCHESTRATORD_CLI, startOrchestratord } from '../src/orchestratord-process.ts';
import { POOL_MANAGERD_CLI, startPoolManagerd } from '../src/pool-managerd-process.ts';
import { startProcess, stopProcess, waitFor, type RunningProcess } from '../src/processes.ts';
import { PROVISIONER_CLI, runProvisioner, tempNode } from '../src/provisioner-cli.ts';

/** How long a command that refuses its environment may take to say so and exit. */
const REFUSAL_BUDGET_MS = 30_000;

/** Wait for a process to exit within the budget; one still running then is stopped and reported. */
async function exitOf(proc: RunningProcess, what: string, ms = REFUSAL_BUDGET_MS): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const code = await Promise.race([proc.exited, late]).finally(() => clearTimeout(timer));
  if (code !== 'late') return code;
  await stopProcess(proc);
  throw new Error(`${what} still ran after ${ms} ms:\n${proc.output()}`);
}

interface Refusal {
  readonly command: 'orchestratord' | 'pool-managerd' | 'engine-provisioner';
  readonly env: Record<string, string>;
  readonly args?: readonly string[];
  /** What the message must say: the variable it names, first. */
  readonly says: RegExp;
  readonly exitCode?: number;
}

const CLI = {
  orchestratord: ORCHESTRATORD_CLI,
  'pool-managerd': POOL_MANAGERD_CLI,
  'engine-provisioner': PROVISIONER_CLI,
} as const;

/** A config the provisioner accepts, so only the variable under test is wrong. */
const CPU_NODE = (dir: string): string =>
  `node_id: vars\nruntime_dir: ${dir}/run\ncache_dir: ${dir}/cache\nengine: { device: cpu }\npools:\n  - { id: demo, model: demo, ctx: 512, slots: 1 }\n`;

describe('every variable the CLOUD spec names', { timeout: 30 * 60_000 }, () => {
  test('a bad value stops orchestratord, pool-managerd and engine-provisioner with a message naming the variable', async (t) => {
    const node = await tempNode(CPU_NODE);
    t.after(node.cleanup);
    const aFile = join(node.dir, 'a-file');
    await writeFile(aFile, 'not a directory\n');
    const gpus = await fakeGpuHost(join(node.dir, 'host'), { cublas: true });
    const key = 'k'.repeat(24);
    const plan = ['plan', '--config', node.configFile];
    const up = ['up', '--config', node.configFile];
    const cases: Refusal[] = [
      { command: 'orchestratord', env: { ORCHD_BIND_ADDR: 'localhost' }, says: /^orchestratord: ORCHD_BIND_ADDR: / },
      {
        command: 'orchestratord',
        env: { ORCHD_POOL_MANAGERS: 'ftp://x' },
        says: /^orchestratord: ORCHD_POOL_MANAGERS/,
      },
      {
        command: 'orchestratord',
        env: { ORCHD_POOL_POLL_INTERVAL_MS: 'fast' },
        says: /^orchestratord: ORCHD_POOL_POLL_INTERVAL_MS: /,
      },
      {
        command: 'orchestratord',
        env: { ORCHD_ADMISSION_CAPACITY: '-1' },
        says: /^orchestratord: ORCHD_ADMISSION_CAPACITY: /,
      },
      {
        command: 'orchestratord',
        env: { ORCHD_ADMISSION_POLICY: 'lifo' },
        says: /^orchestratord: ORCHD_ADMISSION_POLICY: /,
      },
      { command: 'orchestratord', env: { ORCHD_PROFILE: 'prod' }, says: /^orchestratord: ORCHD_PROFILE: / },
      {
        command: 'orchestratord',
        env: { ORCHD_TLS_CERT: '/tls/o.crt' },
        says: /^orchestratord: ORCHD_TLS_CERT and ORCHD_TLS_KEY/,
      },
      {
        command: 'orchestratord',
        env: { ORCHD_PROFILE: 'cloud', ORCHD_API_KEYS: key, ORCHD_TLS_CERT: '/tls/o.crt', ORCHD_TLS_KEY: '/tls/o.key' },
        says: /^orchestratord: .*ORCHD_TLS_CA/,
      },
      { command: 'orchestratord', env: { ORCHD_API_KEYS: 'short' }, says: /^orchestratord: ORCHD_API_KEYS/ },
      {
        command: 'orchestratord',
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'tempo:4317' },
        says: /^orchestratord: OTEL_EXPORTER_OTLP_ENDPOINT: /,
      },
      {
        command: 'orchestratord',
        env: { PROMETHEUS_METRICS_PORT: 'ninety' },
        says: /^orchestratord: PROMETHEUS_METRICS_PORT: /,
      },
      {
        command: 'orchestratord',
        env: { PROMETHEUS_METRICS_PORT: '70000' },
        says: /^orchestratord: PROMETHEUS_METRICS_PORT: /,
      },
      {
        command: 'orchestratord',
        env: { ORCHD_BIND_ADDR: '127.0.0.1:18080', PROMETHEUS_METRICS_PORT: '18080' },
        says: /^orchestratord: PROMETHEUS_METRICS_PORT: must differ from the API port/,
      },
      {
        command: 'pool-managerd',
        env: { POOL_MANAGERD_BIND_ADDR: 'nine-two-hundred' },
        says: /^pool-managerd: POOL_MANAGERD_BIND_ADDR: /,
      },
      {
        command: 'pool-managerd',
        env: { POOL_MANAGERD_RUNTIME_DIR: aFile },
        says: /^pool-managerd: POOL_MANAGERD_RUNTIME_DIR .*cannot create/,
        exitCode: 1,
      },
      {
        command: 'pool-managerd',
        env: { POOL_MANAGERD_WATCH_INTERVAL_MS: '10' },
        says: /^pool-managerd: POOL_MANAGERD_WATCH_INTERVAL_MS: /,
      },
      {
        command: 'pool-managerd',
        env: { POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS: 'soon' },
        says: /^pool-managerd: POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS: /,
      },
      {
        command: 'pool-managerd',
        env: { POOL_MANAGERD_TLS_KEY: '/tls/n.key' },
        says: /^pool-managerd: POOL_MANAGERD_TLS_CERT and POOL_MANAGERD_TLS_KEY/,
      },
      {
        command: 'pool-managerd',
        env: { POOL_MANAGERD_TLS_CA: '/tls/ca.crt' },
        says: /^pool-managerd: POOL_MANAGERD_TLS_CA: /,
      },
      {
        command: 'pool-managerd',
        env: { POOL_MANAGERD_AUTO_DELETE_HANDOFF: 'yes' },
        says: /^pool-managerd: POOL_MANAGERD_AUTO_DELETE_HANDOFF: must be true or false/,
      },
      {
        command: 'pool-managerd',
        env: { PROMETHEUS_METRICS_PORT: '-1' },
        says: /^pool-managerd: PROMETHEUS_METRICS_PORT: /,
      },
      {
        command: 'engine-provisioner',
        env: { ENGINE_PROVISIONER_GPU_MASK: 'all' },
        args: plan,
        says: /^engine-provisioner: bad environment: ENGINE_PROVISIONER_GPU_MASK: must be GPU indexes/,
      },
      {
        command: 'engine-provisioner',
        env: { ENGINE_PROVISIONER_GPU_MASK: '7', PATH: gpus.path },
        args: plan,
        says: /^engine-provisioner: bad environment: ENGINE_PROVISIONER_GPU_MASK: GPU 7 is not on this host \(nvidia-smi lists 0, 1\)/,
      },
      {
        command: 'engine-provisioner',
        env: { ENGINE_PROVISIONER_HANDOFF_DIR: aFile },
        args: up,
        says: /^engine-provisioner: bad environment: ENGINE_PROVISIONER_HANDOFF_DIR: .* is not a directory/,
      },
      {
        command: 'engine-provisioner',
        env: { ENGINE_PROVISIONER_HANDOFF_DIR: '' },
        args: plan,
        says: /^engine-provisioner: bad environment: ENGINE_PROVISIONER_HANDOFF_DIR: /,
      },
      {
        command: 'engine-provisioner',
        env: { ENGINE_PROVISIONER_CACHE_DIR: aFile },
        args: up,
        says: /^engine-provisioner: bad environment: ENGINE_PROVISIONER_CACHE_DIR: .* is not a directory/,
      },
    ];
    const run = async (c: Refusal): Promise<string | null> => {
      const base = {
        orchestratord: { ORCHD_BIND_ADDR: '127.0.0.1:0' },
        'pool-managerd': { POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0', POOL_MANAGERD_RUNTIME_DIR: join(node.dir, 'pm') },
        'engine-provisioner': {},
      }[c.command];
      const proc = startProcess(process.execPath, [CLI[c.command], ...(c.args ?? [])], {
        ...process.env,
        ...base,
        ...c.env,
      });
      const what = `${c.command} with ${JSON.stringify(c.env)}`;
      const code = await exitOf(proc, what);
      const wanted = c.exitCode ?? 2;
      if (code !== wanted) return `${what}: exit ${String(code)}, not ${wanted}:\n${proc.output()}`;
      if (
        !proc
          .output()
          .split('\n')
          .some((line) => c.says.test(line))
      )
        return `${what}: no line matches ${String(c.says)}:\n${proc.output()}`;
      return null;
    };
    const problems: string[] = [];
    for (let i = 0; i < cases.length; i += 4)
      problems.push(...(await Promise.all(cases.slice(i, i + 4).map(run))).filter((p) => p !== null));
    assert.deepEqual(problems, []);
    assert.deepEqual(await readFile(aFile, 'utf8'), 'not a directory\n', 'nothing wrote over the file');
  });

  test('PROMETHEUS_METRICS_PORT: each daemon serves /metrics on that port, refuses one in use by name, and opens none unset', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-vars-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const nodePort = await freePort();
    const node = await startPoolManagerd({
      POOL_MANAGERD_RUNTIME_DIR: join(dir, 'run'),
      PROMETHEUS_METRICS_PORT: String(nodePort),
    });
    t.after(node.stop);
    const orchPort = await freePort();
    const orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: node.url,
      PROMETHEUS_METRICS_PORT: String(orchPort),
    });
    t.after(orchestrator.stop);
    const nodeMetrics = await request(`http://127.0.0.1:${nodePort}/metrics`).then((r) => r.body.text());
    assert.match(nodeMetrics, /^# TYPE pool_health_checks_total counter$/m);
    assert.match(nodeMetrics, /^# TYPE pool_handoff_processing_duration_ms histogram$/m);
    const orchMetrics = await request(`http://127.0.0.1:${orchPort}/metrics`).then((r) => r.body.text());
    assert.match(orchMetrics, /^orchd_admission_queue_capacity 64$/m);
    assert.match(orchMetrics, /^orchd_admission_queue_depth\{pool_id="none"\} 0$/m);
    // The API port keeps its own /metrics: the same registry.
    const api = await request(`${orchestrator.url}/metrics`).then((r) => r.body.text());
    assert.match(api, /^orchd_admission_queue_capacity 64$/m);

    // A port someone else holds stops the daemon, naming the variable.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const taken = (holder.address() as { port: number }).port;
    const clash = startProcess(process.execPath, [POOL_MANAGERD_CLI], {
      ...process.env,
      POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0',
      POOL_MANAGERD_RUNTIME_DIR: join(dir, 'clash'),
      PROMETHEUS_METRICS_PORT: String(taken),
    });
    assert.equal(await exitOf(clash, 'pool-managerd on a taken metrics port'), 1, clash.output());
    assert.match(
      clash.output(),
      new RegExp(`^pool-managerd: PROMETHEUS_METRICS_PORT: cannot serve /metrics on 127\\.0\\.0\\.1:${taken}`, 'm'),
    );

    const plain = await startPoolManagerd({ POOL_MANAGERD_RUNTIME_DIR: join(dir, 'plain') });
    t.after(plain.stop);
    assert.doesNotMatch(plain.proc.output(), /metrics listening/, 'unset: no second port');
  });

  test('POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS sets how often nvidia-smi is asked', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-gpu-interval-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const smi = join(dir, 'nvidia-smi');
    const calls = join(dir, 'calls');
    await writeFile(
      smi,
      `#!/bin/sh\ndate +%s%N >> ${calls}\necho "0, GPU-0000, NVIDIA GeForce RTX 3090, 24576, 1024, 23552, 8.6"\n`,
    );
    await chmod(smi, 0o755);
    const gaps = async (intervalMs: number): Promise<number[]> => {
      await rm(calls, { force: true });
      const node = await startPoolManagerd({
        PATH: `${dir}:${process.env['PATH'] ?? ''}`,
        POOL_MANAGERD_RUNTIME_DIR: join(dir, `run-${intervalMs}`),
        POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS: String(intervalMs),
      });
      try {
        const stamps = await waitFor(
          `four nvidia-smi calls ${intervalMs} ms apart`,
          async () => {
            const lines = (await readFile(calls, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
            return lines.length >= 4 ? lines.slice(0, 4).map((ns) => Number(BigInt(ns) / 1_000_000n)) : undefined;
          },
          intervalMs * 4 + 20_000,
        );
        return stamps.slice(1).map((at, i) => at - (stamps[i] ?? at));
      } finally {
        await node.stop();
      }
    };
    for (const intervalMs of [250, 1500]) {
      const seen = await gaps(intervalMs);
      for (const gap of seen)
        assert.ok(gap >= intervalMs * 0.8 && gap < intervalMs + 1500, `gaps ${seen.join(', ')} ms for ${intervalMs}`);
    }
  });

  test('ENGINE_PROVISIONER_GPU_MASK narrows the GPUs a plan uses, and ENGINE_PROVISIONER_CACHE_DIR where it builds', async (t) => {
    const node = await tempNode(
      (dir) =>
        `node_id: masked\nruntime_dir: ${dir}/run\ncache_dir: ${dir}/config-cache\nengine: { device: cuda }\npools:\n  - { id: any, model: demo, ctx: 512, slots: 1 }\n  - { id: pinned, model: demo, ctx: 512, slots: 1, gpus: [1] }\n`,
    );
    t.after(node.cleanup);
    const host = await fakeGpuHost(join(node.dir, 'host'), { cublas: true });
    interface PlanJson {
      ok: boolean;
      engine: { build_dir: string; cuda_architectures: string[] };
      pools: { id: string; replicas: { env: Record<string, string> }[] }[];
    }
    const plan = async (env: Record<string, string>): Promise<PlanJson> => {
      const proc = runProvisioner(['plan', '--config', node.configFile], { PATH: host.path, ...env });
      assert.equal(await exitOf(proc, 'engine-provisioner plan'), 0, proc.output());
      const text = proc.output();
      return JSON.parse(text.slice(text.indexOf('{'))) as PlanJson;
    };
    const visible = (p: PlanJson): Record<string, string | undefined> =>
      Object.fromEntries(p.pools.map((pool) => [pool.id, pool.replicas[0]?.env['CUDA_VISIBLE_DEVICES']]));

    const all = await plan({});
    assert.deepEqual(visible(all), { any: undefined, pinned: '1' }, 'unmasked, an unpinned pool sees every GPU');
    assert.deepEqual(all.engine.cuda_architectures, ['86', '89']);
    assert.ok(all.engine.build_dir.startsWith(join(node.dir, 'config-cache')), all.engine.build_dir);

    const masked = await plan({
      ENGINE_PROVISIONER_GPU_MASK: '1',
      ENGINE_PROVISIONER_CACHE_DIR: join(node.dir, 'env-cache'),
    });
    assert.equal(masked.ok, true);
    assert.deepEqual(visible(masked), { any: '1', pinned: '1' }, 'the unpinned pool runs on the masked GPU only');
    assert.deepEqual(masked.engine.cuda_architectures, ['89'], 'built for the masked GPU only');
    assert.ok(masked.engine.build_dir.startsWith(join(node.dir, 'env-cache')), masked.engine.build_dir);
  });
});
