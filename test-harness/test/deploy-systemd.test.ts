import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { ErrorEnvelope, PoolList } from '@llama-orch/contracts';
import { createCa, issueCertificate } from '@llama-orch/tls';
import { startDaemon, type DaemonProcess } from '../src/daemon-process.ts';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { ORCHESTRATORD_CLI } from '../src/orchestratord-process.ts';
import { POOL_MANAGERD_CLI } from '../src/pool-managerd-process.ts';
import { isAlive, killPid, startProcess, stopProcess, waitFor, type RunningProcess } from '../src/processes.ts';
import { handoffsIn, PROVISIONER_CLI, readHandoff } from '../src/provisioner-cli.ts';
import { parseEnvFile, parseUnit, systemdTools, timeSpanMs, type UnitFile } from '../src/systemd-unit.ts';
import { DAEMON_NODE_FLAGS } from '@llama-orch/lifecycle';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DAEMONS = ['orchestratord', 'pool-managerd', 'engine-provisioner'] as const;
type Daemon = (typeof DAEMONS)[number];
/** Where deploy/README.md installs the repository, and the node and the config directory it documents. */
const INSTALL_DIR = '/opt/llama-orch';
const NODE = '/usr/bin/node';
const CONFIG_DIR = '/etc/llama-orch';
const USER = 'llama-orch';
/** The graceful-stop deadline of runUntilSignal (libs/lifecycle/src/run-until-signal.ts), after which a daemon exits. */
const DAEMON_GRACE_MS = 30_000;
/** The GPU node's units: nvidia-smi and CUDA need /dev/nvidia*, and pool-managerd checks the engines' pids. */
const GPU_UNITS: readonly Daemon[] = ['pool-managerd', 'engine-provisioner'];

const unitText = (daemon: Daemon): string => readFileSync(join(ROOT, 'deploy/systemd', `${daemon}.service`), 'utf8');
const unit = (daemon: Daemon): UnitFile => parseUnit(unitText(daemon), `${daemon}.service`);
const envFile = (daemon: Daemon): ReadonlyMap<string, string> =>
  parseEnvFile(readFileSync(join(ROOT, 'deploy/env', `${daemon}.env`), 'utf8'), `${daemon}.env`);
const yes = (value: string | undefined): boolean => ['yes', 'true', 'on', '1'].includes(value ?? '');
const within = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

/** The directories a unit may write under ProtectSystem=strict: its state/cache/logs directories and ReadWritePaths. */
function writablePaths(u: UnitFile): string[] {
  const under = (base: string, key: string): string[] =>
    u.words('Service', key).map((dir) => posix.join(base, dir.split(':')[0] ?? ''));
  return [
    ...under('/var/lib', 'StateDirectory'),
    ...under('/var/cache', 'CacheDirectory'),
    ...under('/var/log', 'LogsDirectory'),
    ...u.words('Service', 'ReadWritePaths').map((path) => path.replace(/^[-+]+/, '')),
  ];
}

/** The directory holding systemd's own units (sysinit.target and the other targets every service depends on). */
function systemdUnitDir(): string {
  const dir = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(join(d, 'sysinit.target')));
  assert.ok(dir !== undefined, "systemd's unit directory with sysinit.target");
  return dir;
}

/**
 * A root file system as deploy/README.md leaves a node: the units in /etc/systemd/system (copied byte for byte), an
 * executable at /usr/bin/node, and systemd's targets. `systemd-analyze verify --root` checks the units against it.
 */
async function installedRoot(dir: string, units: Record<string, string>): Promise<void> {
  await mkdir(join(dir, 'etc/systemd/system'), { recursive: true });
  for (const [name, text] of Object.entries(units)) await writeFile(join(dir, 'etc/systemd/system', name), text);
  await mkdir(join(dir, dirname(NODE.slice(1))), { recursive: true });
  await writeFile(join(dir, NODE), '#!/bin/sh\n');
  await chmod(join(dir, NODE), 0o755);
  const systemdDir = systemdUnitDir();
  await mkdir(join(dir, 'usr/lib/systemd/system'), { recursive: true });
  for (const name of (await readdir(systemdDir)).filter((n) => n.endsWith('.target')))
    await copyFile(join(systemdDir, name), join(dir, 'usr/lib/systemd/system', name));
}

function verify(root: string, names: readonly string[]): { status: number | null; output: string } {
  const run = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...names], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

describe('bare-metal deployment with systemd (deploy/systemd, deploy/env)', { timeout: 45 * 60_000 }, () => {
  test('systemd-analyze verify accepts the three units installed on a node, and refuses a broken one', async (t) => {
    if (!systemdTools()) {
      t.skip('systemd-analyze is not installed and could not be (apt-get install systemd): the units are unverified');
      return;
    }
    const root = await mkdtemp(join(tmpdir(), 'llorch-systemd-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const names = DAEMONS.map((d) => `${d}.service`);
    await installedRoot(root, Object.fromEntries(DAEMONS.map((d) => [`${d}.service`, unitText(d)])));
    assert.deepEqual(verify(root, names), { status: 0, output: '' }, 'systemd-analyze has nothing to say');

    // The check can fail: an unknown setting is only warned about, a command that is not there is an error.
    const text = unitText('orchestratord');
    await writeFile(join(root, 'etc/systemd/system/orchestratord.service'), `${text}\n[Service]\nKillMod=mixed\n`);
    assert.match(verify(root, names).output, /Unknown key 'KillMod'/);
    await writeFile(
      join(root, 'etc/systemd/system/orchestratord.service'),
      text.replace(`ExecStart=${NODE} `, 'ExecStart=/usr/local/bin/node '),
    );
    const missing = verify(root, names);
    assert.notEqual(missing.status, 0);
    assert.match(missing.output, /\/usr\/local\/bin\/node is not executable/);
  });

  test('each unit runs its command from the install directory with node, as the llama-orch user of the sysusers file, with its env file from deploy/env', async (t) => {
    for (const daemon of DAEMONS) {
      const u = unit(daemon);
      assert.equal(u.value('Service', 'User'), USER, `${daemon}: User=`);
      assert.equal(u.value('Service', 'Group'), USER, `${daemon}: Group=`);
      // No "-" prefix: a node without its env file must not start the daemon on defaults.
      assert.deepEqual(u.values('Service', 'EnvironmentFile'), [`${CONFIG_DIR}/${daemon}.env`], daemon);
      assert.ok(existsSync(join(ROOT, 'deploy/env', `${daemon}.env`)), `deploy/env/${daemon}.env`);
      const pkg = JSON.parse(readFileSync(join(ROOT, 'bin', daemon, 'package.json'), 'utf8')) as {
        bin: Record<string, string>;
      };
      const entry = posix.join('bin', daemon, pkg.bin[daemon] ?? '');
      assert.ok(existsSync(join(ROOT, entry)), `${entry} exists`);
      const [command, ...words] = (u.value('Service', 'ExecStart') ?? '').split(/\s+/);
      assert.equal(command, NODE, `${daemon} runs on plain node`);
      const flags = words.filter((w) => w.startsWith('--'));
      const [script, ...args] = words.slice(flags.length);
      // The daemons run with the Node flags llorch and the images give them; the provisioner is a one-shot command.
      assert.deepEqual(flags, daemon === 'engine-provisioner' ? [] : DAEMON_NODE_FLAGS, `${daemon}: Node flags`);
      assert.equal(
        script,
        posix.join(INSTALL_DIR, entry),
        `${daemon} runs the bin entry of bin/${daemon}/package.json`,
      );
      assert.deepEqual(args, daemon === 'engine-provisioner' ? ['up'] : [], `${daemon}: arguments`);
      assert.ok(u.words('Install', 'WantedBy').includes('multi-user.target'), `${daemon}: enabled for boot`);
    }

    if (!systemdTools()) {
      t.diagnostic('systemd-sysusers is not installed: the sysusers file was not applied');
      return;
    }
    const root = await mkdtemp(join(tmpdir(), 'llorch-sysusers-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'etc'));
    const sysusers = spawnSync(
      'systemd-sysusers',
      [`--root=${root}`, join(ROOT, 'deploy/systemd/llama-orch-sysusers.conf')],
      { encoding: 'utf8' },
    );
    assert.equal(sysusers.status, 0, sysusers.stderr);
    const entry = (await readFile(join(root, 'etc/passwd'), 'utf8')).split('\n').find((l) => l.startsWith(`${USER}:`));
    assert.ok(entry !== undefined, `systemd-sysusers creates ${USER}`);
    const home = entry.split(':')[5] ?? '';
    for (const daemon of GPU_UNITS)
      assert.ok(writablePaths(unit(daemon)).includes(home), `${daemon} owns the user's home ${home}`);
  });

  test('the env files keep the conventions of every deployment: CLOUD profile, ports, certificates, keys, runtime and cache directories', () => {
    const orchd = envFile('orchestratord');
    const pm = envFile('pool-managerd');
    const prov = envFile('engine-provisioner');
    assert.equal(orchd.get('ORCHD_PROFILE'), 'cloud');
    assert.equal(pm.get('POOL_MANAGERD_PROFILE'), 'cloud');
    assert.equal(orchd.get('ORCHD_BIND_ADDR'), '0.0.0.0:8080');
    assert.equal(pm.get('POOL_MANAGERD_BIND_ADDR'), '0.0.0.0:9200');
    assert.equal(orchd.get('PROMETHEUS_METRICS_PORT'), '9090');
    assert.equal(pm.get('PROMETHEUS_METRICS_PORT'), '9091');
    const managers = (orchd.get('ORCHD_POOL_MANAGERS') ?? '').split(',');
    assert.ok(managers.length > 0 && managers.every((url) => /^https:\/\/[^/]+:9200$/.test(url)), managers.join());
    assert.deepEqual(
      ['ORCHD_TLS_CERT', 'ORCHD_TLS_KEY', 'ORCHD_TLS_CA', 'ORCHD_API_KEYS_FILE'].map((k) => orchd.get(k)),
      [
        `${CONFIG_DIR}/certs/orchestratord.crt`,
        `${CONFIG_DIR}/certs/orchestratord.key`,
        `${CONFIG_DIR}/certs/ca.crt`,
        `${CONFIG_DIR}/keys/api-keys`,
      ],
    );
    assert.deepEqual(
      ['POOL_MANAGERD_TLS_CERT', 'POOL_MANAGERD_TLS_KEY', 'POOL_MANAGERD_TLS_CA'].map((k) => pm.get(k)),
      [`${CONFIG_DIR}/certs/pool-managerd.crt`, `${CONFIG_DIR}/certs/pool-managerd.key`, `${CONFIG_DIR}/certs/ca.crt`],
    );
    assert.equal(pm.get('POOL_MANAGERD_RUNTIME_DIR'), '/var/lib/llama-orch');
    assert.equal(
      prov.get('ENGINE_PROVISIONER_HANDOFF_DIR'),
      posix.join(pm.get('POOL_MANAGERD_RUNTIME_DIR') ?? '', 'engines'),
      'engine-provisioner writes the handoffs where pool-managerd watches them',
    );
    assert.equal(prov.get('ENGINE_PROVISIONER_CACHE_DIR'), '/var/cache/llama-orch');
    assert.equal(prov.get('LLORCH_CONFIG'), `${CONFIG_DIR}/node.yaml`);
    assert.equal(pm.get('LLORCH_CONFIG'), undefined, 'pool-managerd does not provision the pools itself');
  });

  test('each unit may write the directories its env file names and read the files it names, under ProtectSystem=strict', () => {
    /** The variables whose value is a directory the daemon writes. */
    const writes: Record<Daemon, readonly string[]> = {
      orchestratord: [],
      'pool-managerd': ['POOL_MANAGERD_RUNTIME_DIR'],
      'engine-provisioner': ['ENGINE_PROVISIONER_HANDOFF_DIR', 'ENGINE_PROVISIONER_CACHE_DIR'],
    };
    for (const daemon of DAEMONS) {
      const u = unit(daemon);
      const env = envFile(daemon);
      assert.equal(u.value('Service', 'ProtectSystem'), 'strict', `${daemon}: ProtectSystem=strict`);
      assert.ok(yes(u.value('Service', 'ProtectHome')), `${daemon}: ProtectHome=yes`);
      assert.ok(yes(u.value('Service', 'PrivateTmp')), `${daemon}: PrivateTmp=yes`);
      assert.ok(yes(u.value('Service', 'NoNewPrivileges')), `${daemon}: NoNewPrivileges=yes`);
      const writable = writablePaths(u);
      for (const name of writes[daemon]) {
        const dir = env.get(name);
        assert.ok(dir !== undefined && isAbsolute(dir), `${daemon}.env sets ${name} to an absolute path`);
        assert.ok(
          writable.some((w) => within(dir, w)),
          `${daemon}.service can write ${name}=${dir} (writable: ${writable.join(' ') || 'nothing'})`,
        );
      }
      const hidden = ['/home', '/root', '/run/user', '/tmp', '/var/tmp', ...u.words('Service', 'InaccessiblePaths')];
      for (const [name, value] of env) {
        if (!value.startsWith('/') || writes[daemon].includes(name)) continue;
        assert.ok(within(value, CONFIG_DIR), `${daemon}.env: ${name}=${value} lies in ${CONFIG_DIR}`);
        assert.ok(!hidden.some((h) => within(value, h)), `${daemon}.service can see ${name}=${value}`);
      }
    }
  });

  test('the GPU units keep /dev/nvidia* reachable and the host PID namespace; orchestratord gets no devices; pool-managerd starts after engine-provisioner and stops before it', () => {
    for (const daemon of GPU_UNITS) {
      const u = unit(daemon);
      assert.ok(!yes(u.value('Service', 'PrivateDevices')), `${daemon}: no PrivateDevices=`);
      // Any DeviceAllow= (ProtectClock=yes adds one before systemd 252) turns the device policy into an allow-list.
      for (const key of ['DeviceAllow', 'DevicePolicy', 'PrivatePIDs', 'PrivateUsers', 'ProtectClock', 'RootDirectory'])
        assert.deepEqual(u.values('Service', key), [], `${daemon}: no ${key}=`);
    }
    for (const daemon of DAEMONS)
      assert.ok(!yes(unit(daemon).value('Service', 'MemoryDenyWriteExecute')), `${daemon}: V8's JIT needs W+X memory`);
    assert.ok(yes(unit('orchestratord').value('Service', 'PrivateDevices')), 'orchestratord: PrivateDevices=yes');

    const pm = unit('pool-managerd');
    assert.ok(pm.words('Unit', 'After').includes('engine-provisioner.service'));
    assert.ok(pm.words('Unit', 'Wants').includes('engine-provisioner.service'));
    assert.ok(
      !unit('engine-provisioner').words('Unit', 'After').includes('pool-managerd.service'),
      'no ordering cycle',
    );
  });

  test('each unit stops its daemon with SIGTERM to it alone, waits past its grace period, and does not restart a bad setting (exit 2)', async () => {
    for (const daemon of DAEMONS) {
      const u = unit(daemon);
      assert.equal(u.value('Service', 'KillMode'), 'mixed', `${daemon}: SIGTERM to the main process alone`);
      assert.equal(u.value('Service', 'KillSignal') ?? 'SIGTERM', 'SIGTERM', daemon);
      assert.equal(u.value('Service', 'Restart'), 'on-failure', daemon);
      assert.ok(u.words('Service', 'RestartPreventExitStatus').includes('2'), `${daemon}: exit 2 is not restarted`);
      const stopMs = timeSpanMs(u.value('Service', 'TimeoutStopSec') ?? '90s');
      if (daemon !== 'engine-provisioner')
        assert.ok(stopMs > DAEMON_GRACE_MS, `${daemon}: TimeoutStopSec past its own ${DAEMON_GRACE_MS} ms deadline`);
    }
    // Exit code 2 is what a bad setting gives, for each daemon.
    const bad: Record<Daemon, [string, readonly string[], NodeJS.ProcessEnv]> = {
      orchestratord: [ORCHESTRATORD_CLI, [], { ORCHD_ADMISSION_POLICY: 'sometimes' }],
      'pool-managerd': [POOL_MANAGERD_CLI, [], { POOL_MANAGERD_PROFILE: 'office' }],
      'engine-provisioner': [PROVISIONER_CLI, ['up'], { ENGINE_PROVISIONER_GPU_MASK: 'all' }],
    };
    for (const daemon of DAEMONS) {
      const [script, args, env] = bad[daemon];
      const run = startProcess(process.execPath, [script, ...args], { PATH: process.env['PATH'], ...env });
      assert.equal(await run.exited, 2, `${daemon}:\n${run.output()}`);
      assert.match(run.output(), new RegExp(Object.keys(env)[0] ?? ''), `${daemon} names the variable`);
    }
  });

  test('the three env files, their paths moved into a temporary root, make a working CLOUD node; each daemon exits 0 on a SIGTERM to it alone within its TimeoutStopSec, leaving no engine behind', async (t) => {
    const fixture = await testEngine();
    const root = await mkdtemp(join(tmpdir(), 'llorch-bare-metal-'));
    const running: RunningProcess[] = [];
    const engines = new Set<number>();
    t.after(async () => {
      for (const proc of running.reverse()) await stopProcess(proc);
      for (const pid of engines) killPid(pid);
      await rm(root, { recursive: true, force: true });
    });
    const moved = (path: string): string => join(root, path);
    await mkdir(moved(`${CONFIG_DIR}/certs`), { recursive: true });
    await mkdir(moved(`${CONFIG_DIR}/keys`), { recursive: true });
    const ca = await createCa('bare-metal CA');
    const pmPair = await issueCertificate(ca, { commonName: 'gpu-1', usage: 'both' });
    const orchPair = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' });
    const files: Record<string, string> = {
      'certs/ca.crt': ca.cert,
      'certs/pool-managerd.crt': pmPair.cert,
      'certs/pool-managerd.key': pmPair.key,
      'certs/orchestratord.crt': orchPair.cert,
      'certs/orchestratord.key': orchPair.key,
      'keys/api-keys': '# the clients of this cluster\nsk-bare-metal-0123456789\n',
      // The demo model on CPU: the node config is the operator's; the env files are what is tested.
      'node.yaml':
        'node_id: gpu-1\nengine: { device: cpu }\npools:\n  - { id: bare, model: demo, ctx: 512, slots: 1 }\n',
    };
    for (const [name, text] of Object.entries(files))
      await writeFile(moved(`${CONFIG_DIR}/${name}`), text, { mode: 0o640 });

    /**
     * A daemon's environment as systemd gives it: PATH and HOME, and its env file with each absolute path moved into
     * the root — except the cache, which is the test engine's (llama.cpp built once per machine) — and its listening
     * ports on loopback, free ones.
     */
    const environment = (daemon: Daemon, overrides: Record<string, string>): NodeJS.ProcessEnv => {
      const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: moved('/var/lib/llama-orch') };
      for (const [name, value] of envFile(daemon))
        env[name] =
          name === 'ENGINE_PROVISIONER_CACHE_DIR' ? fixture.cacheDir : value.startsWith('/') ? moved(value) : value;
      return { ...env, ...overrides };
    };
    const daemons: Partial<Record<Daemon, RunningProcess>> = {};
    const start = async (daemon: Daemon, script: string, env: NodeJS.ProcessEnv): Promise<DaemonProcess> => {
      const started = await startDaemon(daemon, script, env);
      running.push(started.proc);
      daemons[daemon] = started.proc;
      return started;
    };

    const provisioner = startProcess(process.execPath, [PROVISIONER_CLI, 'up'], environment('engine-provisioner', {}));
    running.push(provisioner);
    daemons['engine-provisioner'] = provisioner;
    const handoffDir = moved(envFile('engine-provisioner').get('ENGINE_PROVISIONER_HANDOFF_DIR') ?? '');
    const handoff = await waitFor(
      "engine-provisioner's handoff",
      async () => {
        if (provisioner.child.exitCode !== null) throw new Error(`engine-provisioner exited:\n${provisioner.output()}`);
        const [file] = await handoffsIn(handoffDir);
        return file === undefined ? undefined : readHandoff(join(handoffDir, file));
      },
      180_000,
    );
    engines.add(handoff.pid);
    const pm = await start(
      'pool-managerd',
      POOL_MANAGERD_CLI,
      environment('pool-managerd', { POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0', PROMETHEUS_METRICS_PORT: '0' }),
    );
    assert.match(pm.url, /^https:/, 'pool-managerd serves mutual TLS');
    const orchestrator = await start(
      'orchestratord',
      ORCHESTRATORD_CLI,
      environment('orchestratord', {
        ORCHD_BIND_ADDR: '127.0.0.1:0',
        PROMETHEUS_METRICS_PORT: '0',
        ORCHD_POOL_MANAGERS: pm.url,
      }),
    );
    const auth = { authorization: 'Bearer sk-bare-metal-0123456789' };
    await waitFor(
      'the pool of engine-provisioner, through pool-managerd, in orchestratord',
      async () => {
        const pools = await jsonRequest<PoolList>(`${orchestrator.url}/v2/pools`, { headers: auth });
        return pools.body.pools.find((p) => p.pool_id === 'bare')?.ready === true ? true : undefined;
      },
      60_000,
    );
    const answer = await jsonRequest<{ choices: { text: string }[] }>(`${orchestrator.url}/v1/completions`, {
      method: 'POST',
      headers: auth,
      body: { model: 'bare', prompt: 'Once upon a time', max_tokens: 4 },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const anonymous = await jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/pools`);
    assert.equal(anonymous.status, 401, 'the keys file is in force');

    // As systemd stops them (KillMode=mixed): SIGTERM to the main process alone, orchestratord first.
    for (const daemon of ['orchestratord', 'pool-managerd', 'engine-provisioner'] as const) {
      const proc = daemons[daemon];
      assert.ok(proc !== undefined);
      const limitMs = timeSpanMs(unit(daemon).value('Service', 'TimeoutStopSec') ?? '90s');
      const began = Date.now();
      proc.child.kill('SIGTERM');
      const code = await Promise.race([
        proc.exited,
        new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), limitMs).unref()),
      ]);
      assert.equal(code, 0, `${daemon} exits 0 within ${limitMs} ms of its SIGTERM (took ${Date.now() - began} ms)`);
    }
    assert.ok(!isAlive(handoff.pid), 'engine-provisioner stopped its engine before it exited');
    assert.deepEqual(await handoffsIn(handoffDir), [], 'and removed its handoff');
  });
});
