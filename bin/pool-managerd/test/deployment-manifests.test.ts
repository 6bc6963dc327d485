/**
 * The deployment artifacts against pool-managerd's code: what the Kubernetes overlays, the compose files and the
 * bare-metal env file set for pool-managerd (and for engine-provisioner beside it), read by
 * test-harness/src/deploy-manifests.ts run as a command (a bin never imports the test harness), is parsed by this
 * config.ts, started, and probed as the artifact probes it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { POOL_READY_CALLBACK_PATH } from '@llama-orch/contracts';
import { createCa, issueCertificate } from '@llama-orch/tls';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { ENV_VARS, loadConfig, parseEnv, type EnvSettings } from '../src/config.ts';
import { NodeAgent } from '../src/node-agent.ts';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const run = promisify(execFile);

type Probe =
  | { kind: 'http'; use: string; path: string; port: number; scheme: string }
  | { kind: 'tcp'; use: string; port: number }
  | { kind: 'exec'; use: string; command: string[]; inRepo?: string[] };
interface Settings {
  component: 'pool-managerd' | 'engine-provisioner';
  artifact: string;
  kind: 'k8s' | 'compose' | 'env-file';
  where: string;
  image: string | null;
  command: string[] | null;
  env: Record<string, string>;
  envWithoutValue: string[];
  ports: { name: string | null; port: number }[];
  probes: Probe[];
  mounts: { path: string; readOnly: boolean; volume: string; source: { kind: string; name?: string } }[];
}

let all: Settings[] = [];
let missing: string[] = [];
before(async () => {
  const { stdout } = await run(
    process.execPath,
    [join(REPO, 'test-harness/src/deploy-manifests.ts'), 'pool-managerd', 'engine-provisioner'],
    { cwd: REPO, maxBuffer: 16 * 1024 * 1024 },
  );
  ({ settings: all, missing } = JSON.parse(stdout) as { settings: Settings[]; missing: string[] });
});
const managers = (): Settings[] => all.filter((s) => s.component === 'pool-managerd');
/** engine-provisioner in the same artifact and pod (k8s), or the node's env file. */
const provisionerBeside = (s: Settings): Settings | undefined =>
  all.find(
    (p) =>
      p.component === 'engine-provisioner' &&
      (s.kind === 'env-file'
        ? p.kind === 'env-file'
        : p.artifact === s.artifact && p.where.startsWith(s.where.split(' container ')[0] ?? '')),
  );

const label = (s: Settings): string => `${s.artifact}: ${s.where}`;
function parsed(s: Settings): EnvSettings {
  const outcome = parseEnv(s.env);
  assert.ok(outcome.ok, `${label(s)}: ${outcome.ok ? '' : outcome.message}`);
  return outcome.config;
}

/** The node's TLS files written under `root` at the paths the artifact names; the variables moved there. */
async function materialUnder(root: string, env: Record<string, string>): Promise<Record<string, string>> {
  const ca = await createCa();
  const node = await issueCertificate(ca, {
    commonName: 'pool-managerd',
    usage: 'both',
    hosts: ['pool-managerd.llama-orch.svc.cluster.local', '*.pool-managerd.llama-orch.svc.cluster.local'],
  });
  const contents: Record<string, string> = {
    POOL_MANAGERD_TLS_CERT: node.cert,
    POOL_MANAGERD_TLS_KEY: node.key,
    POOL_MANAGERD_TLS_CA: ca.cert,
  };
  const moved: Record<string, string> = { ...env };
  for (const [name, text] of Object.entries(contents)) {
    const path = env[name];
    if (path === undefined) continue;
    moved[name] = join(root, path);
    await mkdir(dirname(moved[name]), { recursive: true });
    await writeFile(moved[name], text);
  }
  return moved;
}

describe('the deployment artifacts run pool-managerd as its code expects', () => {
  test('every artifact that runs pool-managerd was read: both overlays, both compose files, the env file', () => {
    assert.deepEqual(missing, []);
    const artifacts = new Set(managers().map((s) => s.artifact));
    for (const artifact of [
      'k8s/overlays/gpu',
      'k8s/overlays/cpu-demo',
      'docker-compose.cloud.yml',
      'docker-compose.cloud.yml + docker-compose.cpu.yml',
      'deploy/env/pool-managerd.env',
    ])
      assert.ok(artifacts.has(artifact), `${artifact} runs pool-managerd`);
  });

  test('every variable they set is one pool-managerd reads', () => {
    for (const s of managers())
      for (const name of [...Object.keys(s.env), ...s.envWithoutValue])
        assert.ok(ENV_VARS.includes(name), `${label(s)}: ${name} is not a pool-managerd variable`);
  });

  test('their values parse, in the CLOUD profile with mutual TLS, and the node config compose mounts loads', async () => {
    for (const s of managers()) {
      const config = parsed(s);
      assert.equal(config.profile, 'cloud', label(s));
      assert.ok(config.tls !== null && config.tls.caFile !== undefined, `${label(s)}: server certificate and CA`);
      for (const url of config.callbackUrls)
        assert.equal(new URL(url).pathname, POOL_READY_CALLBACK_PATH, `${label(s)}: orchestratord's callback route`);
      if (config.poolConfigFile === undefined) continue;
      // The file bound at LLORCH_CONFIG, read as pool-managerd reads it.
      const bound = s.mounts.find((m) => m.path === config.poolConfigFile);
      assert.ok(bound?.source.kind === 'bind', `${label(s)}: LLORCH_CONFIG is a file the artifact mounts`);
      const loaded = await loadConfig(
        { ...s.env, LLORCH_CONFIG: join(REPO, bound.volume) },
        { hostname: 'pool-managerd-1', homeDir: tmpdir() },
      );
      assert.ok(loaded.ok, `${label(s)}: ${loaded.ok ? '' : loaded.message}`);
      assert.ok(loaded.config.inProcess !== null && loaded.config.inProcess.pools.length > 0, label(s));
    }
  });

  test('each node has exactly one provisioner, and it writes the handoff files where pool-managerd watches', async () => {
    for (const s of managers()) {
      const provisioner = provisionerBeside(s);
      const inProcess = s.env['LLORCH_CONFIG'] !== undefined;
      assert.equal(
        inProcess,
        provisioner === undefined,
        `${label(s)}: pool-managerd provisions xor engine-provisioner`,
      );
      const loaded = await loadConfig({ ...s.env, LLORCH_CONFIG: undefined }, { hostname: 'n', homeDir: tmpdir() });
      assert.ok(loaded.ok);
      if (provisioner !== undefined)
        assert.equal(provisioner.env['ENGINE_PROVISIONER_HANDOFF_DIR'], loaded.config.handoffDir, label(s));
      if (s.kind === 'env-file') continue;
      const runtime = s.mounts.find((m) => m.path === loaded.config.runtimeDir);
      assert.ok(runtime !== undefined && !runtime.readOnly, `${label(s)}: the runtime dir is a writable volume`);
      if (provisioner !== undefined)
        assert.ok(
          provisioner.mounts.some((m) => m.volume === runtime.volume && m.path === runtime.path && !m.readOnly),
          `${label(s)}: engine-provisioner mounts the same runtime volume at the same path`,
        );
    }
  });

  test('ports agree with the code and each other: the API on the port of POOL_MANAGERD_BIND_ADDR, /metrics on PROMETHEUS_METRICS_PORT', () => {
    const defaults = parseEnv({});
    assert.ok(defaults.ok);
    for (const s of managers()) {
      const config = parsed(s);
      assert.equal(config.port, defaults.config.port, `${label(s)}: the API port is the code's default`);
      assert.equal(config.host, '0.0.0.0', label(s));
      assert.equal(config.metricsPort, 9091, `${label(s)}: metrics on the port the Prometheus configs scrape`);
      if (s.kind === 'env-file') continue;
      const served = s.ports.map((p) => p.port);
      assert.ok(served.includes(config.port) && served.includes(config.metricsPort), `${label(s)}: ${served.join()}`);
      if (s.kind === 'k8s') {
        // The port name is what the SRV name orchestratord asks for is made of (_pool-managerd._tcp.<service>).
        assert.equal(s.ports.find((p) => p.name === 'pool-managerd')?.port, config.port, label(s));
        assert.equal(s.ports.find((p) => p.name === 'metrics')?.port, config.metricsPort, label(s));
      }
    }
  });

  test('the TLS files lie on read-only mounts, at the same paths in every artifact', () => {
    for (const name of ['POOL_MANAGERD_TLS_CERT', 'POOL_MANAGERD_TLS_KEY', 'POOL_MANAGERD_TLS_CA'])
      assert.equal(new Set(managers().map((s) => s.env[name])).size, 1, `${name} is one path in every artifact`);
    for (const s of managers().filter((x) => x.kind !== 'env-file'))
      for (const [name, value] of Object.entries(s.env).filter(([n]) => /_TLS_/.test(n))) {
        const mount = s.mounts.find((m) => value.startsWith(`${m.path}/`));
        assert.ok(mount !== undefined && mount.readOnly, `${label(s)}: ${name}=${value} on a read-only mount`);
      }
  });

  test('its probes reach a running pool-managerd: the TLS port accepts, the healthcheck asks /ready over mutual TLS', async (t) => {
    let probed = 0;
    for (const s of managers().filter((x) => x.probes.length > 0)) {
      const root = await mkdtemp(join(tmpdir(), 'pm-manifest-'));
      t.after(() => rm(root, { recursive: true, force: true }));
      // Watching only: a node config here would build llama.cpp (compose's in-process provisioning is checked above).
      const { LLORCH_CONFIG: _c, ENGINE_PROVISIONER_CACHE_DIR: _d, ...env } = await materialUnder(root, s.env);
      const moved = {
        ...env,
        POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0',
        POOL_MANAGERD_RUNTIME_DIR: join(root, 'runtime'),
        PROMETHEUS_METRICS_PORT: '0',
        PATH: join(root, 'no-nvidia-smi-here'),
      };
      const loaded = await loadConfig(moved, { hostname: 'pool-managerd-0', homeDir: root });
      assert.ok(loaded.ok, loaded.ok ? '' : loaded.message);
      const node = new NodeAgent(loaded.config, pino({ level: 'silent' }), new Registry(), '0.0.0-test');
      await node.start();
      t.after(() => node.stop());
      const port = node.address?.port ?? 0;
      // What the kubelet's httpGet would do: HTTPS without a client certificate is refused.
      const agent = new Agent({ connect: { rejectUnauthorized: false } });
      t.after(() => agent.close());
      await assert.rejects(request(`https://127.0.0.1:${port}/ready`, { dispatcher: agent }), label(s));
      for (const probe of s.probes) {
        probed += 1;
        if (probe.kind === 'tcp') {
          assert.equal(probe.port, parsed(s).port, `${label(s)}: ${probe.use} probes the API port`);
          await new Promise<void>((done, fail) => {
            const socket = connect(port, '127.0.0.1', () => {
              socket.destroy();
              done();
            }).on('error', fail);
          });
        } else if (probe.kind === 'exec') {
          const [program, ...args] = probe.inRepo ?? probe.command;
          assert.equal(program, 'node');
          assert.ok(
            args[0] !== undefined && existsSync(args[0]),
            `${label(s)}: ${probe.command.join(' ')} is in the image`,
          );
          const answer = await run(process.execPath, args, {
            env: { ...moved, POOL_MANAGERD_BIND_ADDR: `127.0.0.1:${port}` },
          }).then(
            () => ({ code: 0, stderr: '' }),
            (error: { code: number; stderr: string }) => error,
          );
          // 503: the request got through mutual TLS to the route; no pool is ready on this empty node.
          assert.deepEqual([answer.code, answer.stderr.trim()], [1, 'healthcheck: /ready answered 503'], label(s));
          assert.notEqual(probe.use, 'liveness', `${label(s)}: liveness never waits on the engines`);
        } else assert.fail(`${label(s)}: unexpected ${probe.kind} probe (port 9200 wants a client certificate)`);
      }
    }
    assert.ok(probed >= 6, `the overlays' probes and the compose healthchecks were tried (${probed})`);
  });

  test('its image is the worker that deploy/worker/Containerfile builds, and the command runs pool-managerd', () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    const containerfile = readFileSync(join(REPO, 'deploy/worker/Containerfile'), 'utf8');
    assert.match(containerfile, /^CMD \["pool-managerd"\]$/m);
    assert.match(containerfile, /PATH=\/opt\/llama-orch\/node_modules\/\.bin:/, 'the workspace commands are on PATH');
    const bin = (JSON.parse(readFileSync(join(REPO, 'bin/pool-managerd/package.json'), 'utf8')) as { bin: object }).bin;
    assert.ok('pool-managerd' in bin, 'npm links the pool-managerd command');
    for (const s of managers().filter((x) => x.kind !== 'env-file')) {
      assert.equal(s.image, `llama-orch/worker:${version}`, label(s));
      assert.ok(s.command === null || s.command.join(' ') === 'pool-managerd', `${label(s)}: ${s.command?.join(' ')}`);
    }
  });
});
