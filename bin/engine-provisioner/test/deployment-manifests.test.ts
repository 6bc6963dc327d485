/**
 * The deployment artifacts against engine-provisioner's code: what the Kubernetes overlays (a second container beside
 * pool-managerd) and the bare-metal env file set for it, read by test-harness/src/deploy-manifests.ts run as a command
 * (a bin never imports the test harness), is parsed by this config.ts as `engine-provisioner up` parses it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { checkDirectories, ENV_VARS, parseCli, type ProvisionerCli } from '../src/config.ts';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const run = promisify(execFile);

interface Settings {
  component: string;
  artifact: string;
  kind: 'k8s' | 'compose' | 'env-file';
  where: string;
  image: string | null;
  command: string[] | null;
  env: Record<string, string>;
  envWithoutValue: string[];
  probes: unknown[];
  mounts: { path: string; readOnly: boolean; volume: string; source: { kind: string } }[];
}

let settings: Settings[] = [];
let missing: string[] = [];
before(async () => {
  const { stdout } = await run(
    process.execPath,
    [join(REPO, 'test-harness/src/deploy-manifests.ts'), 'engine-provisioner'],
    { cwd: REPO, maxBuffer: 16 * 1024 * 1024 },
  );
  ({ settings, missing } = JSON.parse(stdout) as { settings: Settings[]; missing: string[] });
});

const label = (s: Settings): string => `${s.artifact}: ${s.where}`;
/** The command line as the artifact runs it (`engine-provisioner up`; systemd's unit runs `up` too). */
function parsed(s: Settings): ProvisionerCli {
  const argv = s.command === null ? ['up'] : s.command.slice(1);
  const outcome = parseCli(argv, s.env);
  assert.ok(outcome.kind === 'run', `${label(s)}: ${outcome.kind === 'error' ? outcome.message : outcome.kind}`);
  return outcome.cli;
}

describe('the deployment artifacts run engine-provisioner as its code expects', () => {
  test('every artifact that runs engine-provisioner was read: both overlays and the env file', () => {
    assert.deepEqual(missing, []);
    const artifacts = new Set(settings.map((s) => s.artifact));
    for (const artifact of ['k8s/overlays/gpu', 'k8s/overlays/cpu-demo', 'deploy/env/engine-provisioner.env'])
      assert.ok(artifacts.has(artifact), `${artifact} runs engine-provisioner`);
  });

  test('every variable they set is one engine-provisioner reads', () => {
    for (const s of settings)
      for (const name of [...Object.keys(s.env), ...s.envWithoutValue])
        assert.ok(ENV_VARS.includes(name), `${label(s)}: ${name} is not an engine-provisioner variable`);
  });

  test('their command line and values parse as `engine-provisioner up` with a node config, a handoff and a cache directory', () => {
    for (const s of settings) {
      const cli = parsed(s);
      assert.equal(cli.command, 'up', label(s));
      assert.ok(cli.handoffDir !== undefined && cli.cacheDir !== undefined, label(s));
      assert.match(cli.handoffDir, /\/engines$/, `${label(s)}: handoff files in <runtime>/engines`);
    }
    const dirs = (pick: (cli: ProvisionerCli) => string | undefined) => new Set(settings.map((s) => pick(parsed(s))));
    assert.equal(dirs((cli) => cli.handoffDir).size, 1, 'one handoff directory in every artifact');
    assert.equal(dirs((cli) => cli.cacheDir).size, 1, 'one cache directory in every artifact');
  });

  test('the node config, the handoff and the cache directories lie on the volumes the pod gives it, writable where it writes', async (t) => {
    for (const s of settings.filter((x) => x.kind === 'k8s')) {
      const cli = parsed(s);
      const on = (path: string) => s.mounts.find((m) => path === m.path || path.startsWith(`${m.path}/`));
      assert.ok(on(cli.configFile) !== undefined, `${label(s)}: LLORCH_CONFIG on a mount`);
      for (const dir of [cli.handoffDir ?? '', cli.cacheDir ?? '']) {
        const mount = on(dir);
        assert.ok(mount !== undefined && !mount.readOnly && mount.source.kind === 'claim', `${label(s)}: ${dir}`);
      }
      // As `up` checks them before it writes anything: the same layout under a temporary root is writable.
      const root = await mkdtemp(join(tmpdir(), 'provisioner-manifest-'));
      t.after(() => rm(root, { recursive: true, force: true }));
      const problem = await checkDirectories({
        handoffDir: join(root, cli.handoffDir ?? ''),
        cacheDir: join(root, cli.cacheDir ?? ''),
      });
      assert.equal(problem, null, label(s));
    }
  });

  test('its image is the worker that deploy/worker/Containerfile builds, and the command runs engine-provisioner up', () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    const containerfile = readFileSync(join(REPO, 'deploy/worker/Containerfile'), 'utf8');
    assert.match(containerfile, /PATH=\/opt\/llama-orch\/node_modules\/\.bin:/, 'the workspace commands are on PATH');
    const pkg = JSON.parse(readFileSync(join(REPO, 'bin/engine-provisioner/package.json'), 'utf8')) as { bin: object };
    assert.ok('engine-provisioner' in pkg.bin, 'npm links the engine-provisioner command');
    for (const s of settings.filter((x) => x.kind === 'k8s')) {
      assert.equal(s.image, `llama-orch/worker:${version}`, label(s));
      assert.deepEqual(s.command, ['engine-provisioner', 'up'], label(s));
    }
  });
});
