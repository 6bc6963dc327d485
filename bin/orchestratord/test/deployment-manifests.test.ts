/**
 * The deployment artifacts against orchestratord's code: what the Kubernetes overlays, the compose files and the
 * bare-metal env file set for orchestratord (read by test-harness/src/deploy-manifests.ts, run as a command: a bin never
 * imports the test harness) is parsed by this config.ts, started, and probed as the artifact probes it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createCa, issueCertificate } from '@llama-orch/tls';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { ENV_VARS, parseConfig, type OrchestratordConfig } from '../src/config.ts';
import { Orchestrator } from '../src/orchestrator.ts';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const run = promisify(execFile);

type Probe =
  | { kind: 'http'; use: string; path: string; port: number; scheme: string }
  | { kind: 'tcp'; use: string; port: number }
  | { kind: 'exec'; use: string; command: string[]; inRepo?: string[] };
interface Settings {
  component: string;
  artifact: string;
  kind: 'k8s' | 'compose' | 'env-file';
  where: string;
  image: string | null;
  command: string[] | null;
  env: Record<string, string>;
  envWithoutValue: string[];
  ports: { name: string | null; port: number }[];
  probes: Probe[];
  mounts: { path: string; readOnly: boolean; volume: string; source: { kind: string } }[];
}

let settings: Settings[] = [];
let missing: string[] = [];
before(async () => {
  const { stdout } = await run(
    process.execPath,
    [join(REPO, 'test-harness/src/deploy-manifests.ts'), 'orchestratord'],
    { cwd: REPO, maxBuffer: 16 * 1024 * 1024 },
  );
  ({ settings, missing } = JSON.parse(stdout) as { settings: Settings[]; missing: string[] });
});

const label = (s: Settings): string => `${s.artifact}: ${s.where}`;
function parsed(s: Settings): OrchestratordConfig {
  const outcome = parseConfig(s.env);
  assert.ok(outcome.ok, `${label(s)}: ${outcome.ok ? '' : outcome.message}`);
  return outcome.config;
}

/** A TLS and keys file set for the variables that name files, written under `root` at the paths the artifact names. */
async function materialUnder(root: string, env: Record<string, string>): Promise<Record<string, string>> {
  const ca = await createCa();
  const server = await issueCertificate(ca, {
    commonName: 'orchestratord',
    usage: 'both',
    hosts: ['orchestratord.llama-orch.svc.cluster.local'],
  });
  const contents: Record<string, string> = {
    ORCHD_TLS_CERT: server.cert,
    ORCHD_TLS_KEY: server.key,
    ORCHD_TLS_CA: ca.cert,
    ORCHD_SERVER_TLS_CERT: server.cert,
    ORCHD_SERVER_TLS_KEY: server.key,
    ORCHD_API_KEYS_FILE: 'a-client-key-of-some-length client\n',
  };
  const moved: Record<string, string> = { ...env };
  for (const [name, text] of Object.entries(contents)) {
    const path = env[name];
    if (path === undefined) continue;
    moved[name] = join(root, path);
    await mkdir(dirname(moved[name]), { recursive: true });
    await writeFile(moved[name], text); // the same file may be named twice (client and server): same text
  }
  return moved;
}

describe('the deployment artifacts run orchestratord as its code expects', () => {
  test('every artifact that runs orchestratord was read: both overlays, both compose files, the env file', () => {
    assert.deepEqual(missing, []);
    const artifacts = new Set(settings.map((s) => s.artifact));
    for (const artifact of [
      'k8s/overlays/gpu',
      'k8s/overlays/cpu-demo',
      'docker-compose.cloud.yml',
      'docker-compose.cloud.yml + docker-compose.cpu.yml',
      'deploy/env/orchestratord.env',
    ])
      assert.ok(artifacts.has(artifact), `${artifact} runs orchestratord`);
  });

  test('every variable they set is one orchestratord reads', () => {
    for (const s of settings)
      for (const name of [...Object.keys(s.env), ...s.envWithoutValue])
        assert.ok(ENV_VARS.includes(name), `${label(s)}: ${name} is not an orchestratord variable`);
  });

  test('their values parse, in the CLOUD profile with mutual TLS, client authentication and pool-managerds to poll', () => {
    for (const s of settings) {
      const config = parsed(s);
      assert.equal(config.profile, 'cloud', label(s));
      assert.ok(config.tls !== null && config.tls.caFile !== undefined, `${label(s)}: client certificate and CA`);
      assert.ok(config.apiKeysFile !== undefined || config.apiKeys.length > 0 || config.oidc !== null, label(s));
      assert.ok(config.poolManagers.length > 0 || config.poolManagersDns !== null, `${label(s)}: nodes to poll`);
      assert.ok(
        config.poolManagers.every((url) => url.startsWith('https://')) && config.poolManagersDns?.scheme !== 'http',
        `${label(s)}: pool-managerd over https`,
      );
    }
  });

  test('ports agree with the code and each other: the API on the port of ORCHD_BIND_ADDR, /metrics on PROMETHEUS_METRICS_PORT', () => {
    const defaults = parseConfig({
      ORCHD_PROFILE: 'cloud',
      ORCHD_TLS_CERT: 'c',
      ORCHD_TLS_KEY: 'k',
      ORCHD_TLS_CA: 'a',
      ORCHD_API_KEYS_FILE: 'f',
    });
    assert.ok(defaults.ok);
    for (const s of settings) {
      const config = parsed(s);
      assert.equal(config.port, defaults.config.port, `${label(s)}: the API port is the code's default`);
      assert.equal(config.host, '0.0.0.0', label(s));
      assert.equal(config.metricsPort, 9090, `${label(s)}: metrics on the port the Prometheus configs scrape`);
      if (s.kind === 'env-file') continue;
      const served = s.ports.map((p) => p.port);
      assert.ok(served.includes(config.port) && served.includes(config.metricsPort), `${label(s)}: ${served.join()}`);
      if (s.kind === 'k8s') {
        assert.equal(s.ports.find((p) => p.name === 'http')?.port, config.port, `${label(s)}: port http`);
        assert.equal(s.ports.find((p) => p.name === 'metrics')?.port, config.metricsPort, `${label(s)}: port metrics`);
      }
    }
  });

  test('the files the variables name lie on the read-only mounts the artifact gives, at the same paths everywhere', () => {
    const fileVars = ['ORCHD_TLS_CERT', 'ORCHD_TLS_KEY', 'ORCHD_TLS_CA', 'ORCHD_API_KEYS_FILE'];
    for (const name of fileVars)
      assert.equal(new Set(settings.map((s) => s.env[name])).size, 1, `${name} is one path in every artifact`);
    for (const s of settings.filter((x) => x.kind !== 'env-file'))
      for (const [name, value] of Object.entries(s.env).filter(([n]) => n.endsWith('_FILE') || /_TLS_/.test(n))) {
        const mount = s.mounts.find((m) => value.startsWith(`${m.path}/`));
        assert.ok(mount !== undefined && mount.readOnly, `${label(s)}: ${name}=${value} on a read-only mount`);
      }
  });

  test('its probes ask routes orchestratord answers: /ready and /health on the API port, and the image healthcheck', async (t) => {
    let probed = 0;
    for (const s of settings.filter((x) => x.probes.length > 0)) {
      const root = await mkdtemp(join(tmpdir(), 'orchd-manifest-'));
      t.after(() => rm(root, { recursive: true, force: true }));
      const env = {
        ...(await materialUnder(root, s.env)),
        ORCHD_BIND_ADDR: '127.0.0.1:0',
        PROMETHEUS_METRICS_PORT: '0',
        ORCHD_DNS_SERVERS: '127.0.0.1:9', // the cluster's DNS name is asked of nothing that answers
      };
      const config = parseConfig(env);
      assert.ok(config.ok, config.ok ? '' : config.message);
      const orchestrator = new Orchestrator(config.config, pino({ level: 'silent' }), new Registry(), '0.0.0-test');
      await orchestrator.start();
      t.after(() => orchestrator.stop());
      const port = orchestrator.address?.port ?? 0;
      const apiPort = parsed(s).port;
      for (const probe of s.probes) {
        probed += 1;
        if (probe.kind === 'http') {
          assert.equal(probe.port, apiPort, `${label(s)}: ${probe.use} probes the API port`);
          // As the kubelet asks: no certificate check.
          const agent = new Agent({ connect: { rejectUnauthorized: false } });
          t.after(() => agent.close());
          const answer = await request(`${probe.scheme.toLowerCase()}://127.0.0.1:${port}${probe.path}`, {
            dispatcher: agent,
          });
          const body = (await answer.body.json()) as Record<string, unknown>;
          if (probe.path === '/ready') assert.deepEqual([answer.statusCode, body['ready']], [503, false], label(s));
          else assert.deepEqual([probe.path, answer.statusCode, body['status']], ['/health', 200, 'ok'], label(s));
          assert.equal(
            probe.use === 'liveness',
            probe.path === '/health',
            `${label(s)}: liveness never waits on pools`,
          );
        } else if (probe.kind === 'exec') {
          const [program, ...args] = probe.inRepo ?? probe.command;
          assert.equal(program, 'node');
          assert.ok(
            args[0] !== undefined && existsSync(args[0]),
            `${label(s)}: ${probe.command.join(' ')} is in the image`,
          );
          const answer = await run(process.execPath, args, {
            env: { ...env, ORCHD_BIND_ADDR: `127.0.0.1:${port}` },
          }).then(
            () => ({ code: 0, stderr: '' }),
            (error: { code: number; stderr: string }) => error,
          );
          assert.deepEqual([answer.code, answer.stderr.trim()], [1, 'healthcheck: /ready answered 503'], label(s));
        } else assert.fail(`${label(s)}: unexpected ${probe.kind} probe`);
      }
    }
    assert.ok(probed >= 6, `the overlays' probes and the compose healthchecks were tried (${probed})`);
  });

  test('its image is the one deploy/orchestratord/Containerfile builds, whose entrypoint runs orchestratord', () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    const containerfile = readFileSync(join(REPO, 'deploy/orchestratord/Containerfile'), 'utf8');
    const entrypoint = /^ENTRYPOINT\s+\["node",\s*"\/opt\/llama-orch\/([^"]+)"\]/m.exec(containerfile)?.[1];
    assert.ok(entrypoint !== undefined && existsSync(join(REPO, entrypoint)), `ENTRYPOINT runs ${entrypoint}`);
    assert.match(containerfile, /^COPY app\/ \/opt\/llama-orch\/$/m, 'the image holds the checkout at /opt/llama-orch');
    const bin = (
      JSON.parse(readFileSync(join(REPO, 'bin/orchestratord/package.json'), 'utf8')) as { bin: Record<string, string> }
    ).bin;
    assert.equal(join('bin/orchestratord', bin['orchestratord'] ?? ''), entrypoint);
    for (const s of settings.filter((x) => x.kind !== 'env-file')) {
      assert.equal(s.image, `llama-orch/orchestratord:${version}`, label(s));
      assert.equal(s.command, null, `${label(s)}: the image's entrypoint runs orchestratord`);
    }
  });
});
