import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { request } from 'undici';
import type { DaemonProcess } from '../src/daemon-process.ts';
import { ORCHESTRATORD_CLI, startOrchestratord } from '../src/orchestratord-process.ts';
import { POOL_MANAGERD_CLI, startPoolManagerd } from '../src/pool-managerd-process.ts';
import { startProcess, stopProcess } from '../src/processes.ts';
import { PROVISIONER_CLI } from '../src/provisioner-cli.ts';
import { DAEMON_NODE_FLAGS } from '@llama-orch/lifecycle';

const LLORCH_CLI = fileURLToPath(new URL('../../bin/llorch/bin/llorch.js', import.meta.url));

/**
 * The environment of a first production start: no NODE_OPTIONS that could bring a loader in, and a TMPDIR of
 * its own, so that a loader could not skip its compiler by reading what an earlier run cached there.
 */
async function plainEnv(dir: string): Promise<NodeJS.ProcessEnv> {
  return { ...process.env, NODE_OPTIONS: undefined, TMPDIR: await mkdtemp(join(dir, 'tmp-')) };
}

interface Proc {
  readonly pid: number;
  readonly argv: readonly string[];
}

/** Every process below `pid`, from /proc (Linux): what a TypeScript loader's esbuild service would show up as. */
async function descendants(pid: number): Promise<Proc[]> {
  const all: { pid: number; ppid: number }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => null);
    if (stat === null) continue;
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    all.push({ pid: Number(name), ppid });
  }
  const found: Proc[] = [];
  const walk = async (parent: number): Promise<void> => {
    for (const child of all.filter((p) => p.ppid === parent)) {
      found.push({ pid: child.pid, argv: await commandLine(child.pid) });
      await walk(child.pid);
    }
  };
  await walk(pid);
  return found;
}

async function commandLine(pid: number): Promise<string[]> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return raw.split('\0').filter((part) => part !== '');
}

/**
 * The process runs `node <script>` with at most the daemons' own V8 flags (DAEMON_NODE_FLAGS): no
 * --import/--loader/--require flag, no esbuild below it.
 */
async function assertPlainNode(pid: number, script: string): Promise<void> {
  const argv = await commandLine(pid);
  const flags = argv.slice(1, argv.indexOf(script));
  assert.deepEqual([argv[0], argv[1 + flags.length]], [process.execPath, script]);
  assert.ok(
    flags.every((flag) => DAEMON_NODE_FLAGS.includes(flag)),
    `only the daemons' V8 flags: ${flags.join(' ')}`,
  );
  const below = await descendants(pid);
  assert.deepEqual(
    below.filter((p) => p.argv.some((arg) => /esbuild/.test(arg))),
    [],
    `no esbuild below ${script}: ${JSON.stringify(below)}`,
  );
}

/** A server that holds every request until `release()`: the command under test stays alive while we look. */
async function heldServer(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{
  readonly url: string;
  readonly requested: Promise<void>;
  readonly release: () => void;
  readonly close: () => Promise<void>;
}> {
  let onRequest: () => void = () => undefined;
  const requested = new Promise<void>((resolve) => (onRequest = resolve));
  let open: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (open = resolve));
  const server = createServer((req, res) => {
    onRequest();
    void released.then(() => answer(req, res));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requested,
    release: open,
    close: async () => {
      open();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('the four commands on plain node, with no TypeScript loader', { timeout: 5 * 60_000 }, () => {
  test('pool-managerd and orchestratord start for real on plain node, answer /health and start no esbuild', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-plain-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const started: DaemonProcess[] = [];
    t.after(async () => {
      for (const daemon of started.reverse()) await daemon.stop();
    });

    const pm = await startPoolManagerd({
      ...(await plainEnv(dir)),
      POOL_MANAGERD_RUNTIME_DIR: dir,
      LLORCH_CONFIG: undefined,
    });
    started.push(pm);
    const orch = await startOrchestratord({ ...(await plainEnv(dir)), ORCHD_POOL_MANAGERS: pm.url });
    started.push(orch);

    for (const [daemon, script] of [
      [pm, POOL_MANAGERD_CLI],
      [orch, ORCHESTRATORD_CLI],
    ] as const) {
      const health = await request(`${daemon.url}/health`);
      assert.equal(health.statusCode, 200);
      assert.equal(((await health.body.json()) as { status: string }).status, 'ok');
      const pid = daemon.proc.child.pid;
      assert.ok(pid !== undefined);
      await assertPlainNode(pid, script);
    }
  });

  test('llorch reports status and makes a CA on plain node, with no esbuild while it runs', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-plain-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const orchestratord = await heldServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url === '/v2/pools' ? { pools: [] } : {}));
    });
    t.after(orchestratord.close);

    const status = startProcess(process.execPath, [LLORCH_CLI, 'status', '--json'], {
      ...(await plainEnv(dir)),
      LLORCH_URL: orchestratord.url,
    });
    t.after(() => stopProcess(status));
    await orchestratord.requested;
    await assertPlainNode(status.child.pid ?? 0, LLORCH_CLI);
    orchestratord.release();
    assert.equal(await status.exited, 0, status.output());
    assert.equal((JSON.parse(status.output()) as { queue_depth: number }).queue_depth, 0);

    const certs = startProcess(
      process.execPath,
      [LLORCH_CLI, 'certs', 'init', '--dir', join(dir, 'tls')],
      await plainEnv(dir),
    );
    assert.equal(await certs.exited, 0, certs.output());
    assert.deepEqual((await readdir(join(dir, 'tls'))).sort(), ['ca.crt', 'ca.key']);
  });

  test('engine-provisioner plans and provisions on plain node, with no esbuild while it downloads', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-plain-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // A stand-in llama-server: `up` only asks it for its version before the model download we hold.
    const fakeEngine = join(dir, 'llama-server');
    await writeFile(fakeEngine, '#!/bin/sh\necho "version: 1 (abc1234)"\n');
    await chmod(fakeEngine, 0o755);
    const config = join(dir, 'node.yaml');
    await writeFile(
      config,
      `runtime_dir: ${dir}/run\ncache_dir: ${dir}/cache\nengine:\n  source: binary:${fakeEngine}\n  device: cpu\npools:\n  - id: held\n    model: hf:org/repo/held.gguf\n    ctx: 512\n    slots: 1\n`,
    );

    const plan = startProcess(process.execPath, [PROVISIONER_CLI, 'plan', '--config', config], await plainEnv(dir));
    assert.equal(await plan.exited, 0, plan.output());
    assert.equal((JSON.parse(plan.output()) as { ok: boolean }).ok, true);

    const hub = await heldServer((_req, res) => {
      res.writeHead(404);
      res.end('no such file');
    });
    t.after(hub.close);
    const up = startProcess(process.execPath, [PROVISIONER_CLI, 'up', '--config', config], {
      ...(await plainEnv(dir)),
      HF_ENDPOINT: hub.url,
    });
    t.after(() => stopProcess(up));
    await Promise.race([
      hub.requested,
      up.exited.then(() => assert.fail(`engine-provisioner exited before the download:\n${up.output()}`)),
    ]);
    await assertPlainNode(up.child.pid ?? 0, PROVISIONER_CLI);
    hub.release();
    assert.equal(await up.exited, 1, up.output());
    assert.match(up.output(), /download of .*held\.gguf failed: HTTP 404/);
  });
});
