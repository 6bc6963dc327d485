import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { PoolList } from '@llama-orch/contracts';
import { createCa, issueCertificate } from '@llama-orch/tls';
import { testEngine } from '../src/engine-fixture.ts';
import { bootNode, nspawnUnavailable, unpackRoot, type BootedNode } from '../src/nspawn-node.ts';
import { waitFor } from '../src/processes.ts';
import { readHandoff } from '../src/provisioner-cli.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNITS = ['engine-provisioner', 'pool-managerd', 'orchestratord'] as const;
const KEY = 'sk-bare-metal-0123456789';

/**
 * Install a node into `root` as deploy/README.md does: the sysusers file and the user it makes, the units and env files
 * as they are in deploy/ (orchestratord.env pointed at this machine's pool-managerd, the one line a one-machine
 * cluster changes), certificates, the keys file and a node config, all root:llama-orch 0640 in 0750 directories, and
 * the units enabled. The node config runs the test engine (the llama-server built once per machine) on the demo model.
 */
async function installNode(root: string, engine: string, model: string): Promise<number> {
  const conf = join(root, 'etc/llama-orch');
  await mkdir(join(root, 'etc/sysusers.d'), { recursive: true });
  await copyFile(join(ROOT, 'deploy/systemd/llama-orch-sysusers.conf'), join(root, 'etc/sysusers.d/llama-orch.conf'));
  const sysusers = spawnSync('systemd-sysusers', [`--root=${root}`], { encoding: 'utf8' });
  assert.equal(sysusers.status, 0, sysusers.stderr);
  const group = (await readFile(join(root, 'etc/group'), 'utf8')).split('\n').find((l) => l.startsWith('llama-orch:'));
  const gid = Number(group?.split(':')[2]);
  const passwd = (await readFile(join(root, 'etc/passwd'), 'utf8'))
    .split('\n')
    .find((l) => l.startsWith('llama-orch:'));
  const uid = Number(passwd?.split(':')[2]);
  assert.ok(Number.isInteger(gid) && Number.isInteger(uid), 'the sysusers file makes the user and group llama-orch');

  for (const unit of UNITS)
    await copyFile(
      join(ROOT, 'deploy/systemd', `${unit}.service`),
      join(root, 'etc/systemd/system', `${unit}.service`),
    );
  const ca = await createCa('bare-metal CA');
  const pm = await issueCertificate(ca, { commonName: 'gpu-1', usage: 'both' });
  const orch = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' });
  const orchEnv = await readFile(join(ROOT, 'deploy/env/orchestratord.env'), 'utf8');
  const files: Record<string, string> = {
    'orchestratord.env': orchEnv.replace(/^ORCHD_POOL_MANAGERS=.*$/m, 'ORCHD_POOL_MANAGERS=https://localhost:9200'),
    'pool-managerd.env': await readFile(join(ROOT, 'deploy/env/pool-managerd.env'), 'utf8'),
    'engine-provisioner.env': await readFile(join(ROOT, 'deploy/env/engine-provisioner.env'), 'utf8'),
    'certs/ca.crt': ca.cert,
    'certs/pool-managerd.crt': pm.cert,
    'certs/pool-managerd.key': pm.key,
    'certs/orchestratord.crt': orch.cert,
    'certs/orchestratord.key': orch.key,
    'keys/api-keys': `${KEY}\n`,
    'node.yaml': `node_id: gpu-1\nengine: { source: "binary:/var/cache/llama-orch/bin/llama-server", device: cpu }\npools:\n  - { id: bare, model: "file:/var/cache/llama-orch/models/demo.gguf", ctx: 512, slots: 1 }\n`,
  };
  for (const dir of [conf, join(conf, 'certs'), join(conf, 'keys')]) {
    await mkdir(dir, { recursive: true });
    await chown(dir, 0, gid);
    await chmod(dir, 0o750);
  }
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(conf, name), text);
    await chown(join(conf, name), 0, gid);
    await chmod(join(conf, name), 0o640);
  }
  // What the node config names in the cache (CacheDirectory= hands the directory to llama-orch at start).
  await mkdir(join(root, 'var/cache/llama-orch/bin'), { recursive: true });
  await mkdir(join(root, 'var/cache/llama-orch/models'), { recursive: true });
  await copyFile(engine, join(root, 'var/cache/llama-orch/bin/llama-server'));
  await chmod(join(root, 'var/cache/llama-orch/bin/llama-server'), 0o755);
  await copyFile(model, join(root, 'var/cache/llama-orch/models/demo.gguf'));
  const enable = spawnSync('systemctl', [`--root=${root}`, 'enable', ...UNITS.map((u) => `${u}.service`)], {
    encoding: 'utf8',
  });
  assert.equal(enable.status, 0, enable.stderr);
  return uid;
}

/** `systemctl show` of some properties of a unit, inside the container. */
function show(node: BootedNode, unit: string, ...properties: string[]): Record<string, string> {
  const out = node.exec(['systemctl', 'show', `${unit}.service`, '-p', properties.join(',')]).stdout;
  const pairs = out.split('\n').flatMap((line): [string, string][] => {
    const eq = line.indexOf('=');
    return eq < 0 ? [] : [[line.slice(0, eq), line.slice(eq + 1)]];
  });
  return Object.fromEntries(pairs);
}

/** An HTTP request to orchestratord from inside the container: status and body. */
function ask(node: BootedNode, path: string, options: { key?: string; body?: unknown } = {}): [number, string] {
  const args = ['curl', '-s', '-w', '\n%{http_code}', `http://127.0.0.1:8080${path}`];
  if (options.key !== undefined) args.push('-H', `authorization: Bearer ${options.key}`);
  if (options.body !== undefined)
    args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(options.body));
  const out = node.exec(args).stdout;
  const cut = out.lastIndexOf('\n');
  return [Number(out.slice(cut + 1)), out.slice(0, cut)];
}

/** The journal of a unit inside the container, for a failure's message. */
const journal = (node: BootedNode, unit: string): string =>
  node.exec(['journalctl', '--no-pager', '-n', '60', '-u', `${unit}.service`]).stdout;

const poolReady = (node: BootedNode): true | undefined => {
  const [status, body] = ask(node, '/v2/pools', { key: KEY });
  if (status !== 200) return undefined;
  return (JSON.parse(body) as PoolList).pools.find((p) => p.pool_id === 'bare')?.ready === true ? true : undefined;
};

describe('the bare-metal units under a booted systemd (systemd-nspawn)', { timeout: 30 * 60_000 }, () => {
  test('a node installed as deploy/README.md says boots its units in their sandbox and serves a completion; a killed engine-provisioner restarts without its old engine, a bad setting is not restarted, and a shutdown of the node takes pool-managerd down before engine-provisioner, leaving nothing', async (t) => {
    const unavailable = nspawnUnavailable();
    if (unavailable !== null) {
      t.skip(`no systemd container here: ${unavailable}`);
      return;
    }
    const fixture = await testEngine();
    const root = await mkdtemp(join(tmpdir(), 'llorch-nspawn-'));
    let node: BootedNode | null = null;
    t.after(async () => {
      await node?.stop();
      await rm(root, { recursive: true, force: true });
    });
    await unpackRoot(root);
    const uid = await installNode(root, fixture.engine.path, fixture.demoModel);
    const booted = await bootNode(root, [
      [ROOT, '/opt/llama-orch'],
      [process.execPath, '/usr/bin/node'],
    ]);
    node = booted;

    for (const unit of UNITS)
      await waitFor(`${unit}.service to run`, () => {
        const state = show(booted, unit, 'ActiveState', 'Result');
        if (state['ActiveState'] === 'failed') throw new Error(`${unit} failed:\n${journal(booted, unit)}`);
        return state['ActiveState'] === 'active' ? true : undefined;
      });
    await waitFor('the pool through pool-managerd in orchestratord', () => poolReady(booted), 120_000, 250).catch(
      (error: unknown) => {
        const logs = UNITS.map((u) => journal(booted, u)).join('\n');
        throw new Error(`${(error as Error).message}\n${logs}`);
      },
    );
    const [completed, answer] = ask(booted, '/v1/completions', {
      key: KEY,
      body: { model: 'bare', prompt: 'Once upon a time', max_tokens: 4 },
    });
    assert.equal(completed, 200, answer);
    assert.equal(ask(booted, '/v2/pools')[0], 401, 'the keys file is in force');

    // Each daemon runs as llama-orch, without new privileges, under a seccomp filter — and so does the engine.
    const engineHandoff = join(root, 'var/lib/llama-orch/engines/bare-r0.json');
    const first = await readHandoff(engineHandoff);
    assert.ok(first !== undefined, 'the handoff lies in the state directory');
    for (const pid of [...UNITS.map((u) => show(booted, u, 'MainPID')['MainPID']), String(first.pid)]) {
      const status = booted.exec(['cat', `/proc/${pid}/status`]).stdout;
      assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, 'm'), `pid ${pid} runs as llama-orch`);
      assert.match(status, /^NoNewPrivs:\s+1$/m, `pid ${pid}: NoNewPrivileges`);
      assert.match(status, /^Seccomp:\s+2$/m, `pid ${pid}: SystemCallFilter`);
    }

    // kill -9 of engine-provisioner: KillMode=mixed takes its engine too, Restart=on-failure brings both back.
    const supervisor = show(booted, 'engine-provisioner', 'MainPID')['MainPID'] ?? '';
    assert.equal(booted.exec(['kill', '-9', supervisor]).status, 0, `kill -9 ${supervisor}`);
    const second = await waitFor(
      'a new engine from the restarted engine-provisioner',
      async () => {
        const h = await readHandoff(engineHandoff).catch(() => undefined);
        return h !== undefined && h.pid !== first.pid ? h : undefined;
      },
      120_000,
      250,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${journal(booted, 'engine-provisioner')}`);
    });
    assert.equal(booted.exec(['ps', '-p', String(first.pid)]).status, 1, 'the old engine is gone');
    assert.equal(show(booted, 'engine-provisioner', 'NRestarts')['NRestarts'], '1');
    assert.ok(second.pid > 0);
    await waitFor('the pool back in orchestratord', () => poolReady(booted), 120_000, 250);

    // A bad setting (exit 2) fails the unit at once instead of restarting it every RestartSec.
    assert.equal(booted.exec(['systemctl', 'stop', 'orchestratord.service']).status, 0);
    assert.deepEqual(show(booted, 'orchestratord', 'Result', 'ExecMainStatus'), {
      Result: 'success',
      ExecMainStatus: '0',
    });
    await mkdir(join(root, 'etc/systemd/system/orchestratord.service.d'), { recursive: true });
    await writeFile(
      join(root, 'etc/systemd/system/orchestratord.service.d/bad.conf'),
      '[Service]\nEnvironment=ORCHD_MAX_BODY_BYTES=1\n',
    );
    booted.exec(['systemctl', 'daemon-reload']);
    booted.exec(['systemctl', 'start', 'orchestratord.service']);
    const failed = await waitFor('orchestratord to fail', () => {
      const state = show(booted, 'orchestratord', 'ActiveState', 'SubState', 'ExecMainStatus', 'NRestarts');
      return state['ActiveState'] === 'failed' || state['SubState'] === 'auto-restart' ? state : undefined;
    });
    assert.deepEqual(failed, { ActiveState: 'failed', SubState: 'failed', ExecMainStatus: '2', NRestarts: '0' });

    // The node shuts down (one transaction, as at a reboot): pool-managerd is down before engine-provisioner begins to
    // stop, both exit 0 on their SIGTERM (no SIGKILL after TimeoutStopSec), and no handoff is left.
    await booted.stop();
    node = null;
    const shutdown = spawnSync(
      'journalctl',
      [
        '--directory',
        join(root, 'var/log/journal'),
        '--boot',
        '--no-pager',
        '-o',
        'cat',
        '-u',
        'pool-managerd.service',
        '-u',
        'engine-provisioner.service',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(shutdown.status, 0, shutdown.stderr);
    const lines = shutdown.stdout.split('\n');
    const last = (text: string): number => lines.findLastIndex((l) => l.startsWith(text));
    const log = `the node's shutdown:\n${lines.filter((l) => !l.startsWith('{')).join('\n')}`;
    assert.ok(last('Stopped pool-managerd.service') >= 0, log);
    assert.ok(last('Stopped pool-managerd.service') < last('Stopping engine-provisioner.service'), log);
    for (const unit of ['pool-managerd', 'engine-provisioner'])
      assert.ok(
        last(`${unit}.service: Deactivated successfully.`) > last(`Stopping ${unit}.service`),
        `${unit}: ${log}`,
      );
    const halt = Math.min(last('Stopping pool-managerd.service'), last('Stopping engine-provisioner.service'));
    assert.ok(!lines.slice(halt).some((l) => /timed out|Killing process|SIGKILL|status=9\/KILL/.test(l)), log);
    const left = (await readdir(join(root, 'var/lib/llama-orch/engines'))).filter((f) => f.endsWith('.json'));
    assert.deepEqual(left, [], 'no handoff is left');
  });
});
