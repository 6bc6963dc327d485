import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, test, type TestContext } from 'node:test';
import { testEngine } from '../src/engine-fixture.ts';
import { freePort } from '../src/free-port.ts';
import { isAlive, startProcess, waitFor } from '../src/processes.ts';
import { readHandoff } from '../src/provisioner-cli.ts';
import { ProcessTree } from './home-process-tree.ts';
import { DAEMON_NODE_FLAGS } from '@llama-orch/lifecycle';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LLORCH = join(ROOT, 'bin', 'llorch', 'bin', 'llorch.js');
/** Signals closer together than this count as one (libs/lifecycle onStopSignals); the tests space theirs wider. */
const COALESCE_MS = 150;

interface Home {
  readonly state: string;
  readonly url: string;
  readonly env: NodeJS.ProcessEnv;
  readonly pid: number;
  readonly tree: ProcessTree;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly exit: () => { code: number | null; signal: NodeJS.Signals | null } | null;
}

/**
 * `llorch home` (or `npm start`) in a session of its own, as `setsid` starts it, on free ports with a fresh state
 * directory. Whatever of it still runs when the test ends is killed by pid, and the directory removed.
 */
async function startHome(
  t: TestContext,
  how: 'npm' | 'llorch',
  args: readonly string[] = [],
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<Home> {
  await testEngine();
  const state = await mkdtemp(join(tmpdir(), 'llorch-stop-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    POOL_MANAGERD_RUNTIME_DIR: state,
    ORCHD_BIND_ADDR: `127.0.0.1:${port}`,
    POOL_MANAGERD_BIND_ADDR: `127.0.0.1:${await freePort()}`,
    LLORCH_URL: undefined,
    LLORCH_CONFIG: undefined,
    npm_config_loglevel: 'silent',
    ...extraEnv,
  };
  const [command, argv] =
    how === 'npm' ? ['npm', ['start', '--silent', '--', ...args]] : [process.execPath, [LLORCH, 'home', ...args]];
  const child = spawn(command, argv, { env, cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve((exit = { code, signal }))),
  );
  const tree = new ProcessTree(child.pid ?? 0);
  t.after(async () => {
    tree.close();
    await rm(state, { recursive: true, force: true });
  });
  return {
    state,
    url: `http://127.0.0.1:${port}`,
    env,
    pid: child.pid ?? 0,
    tree,
    output: () => text,
    exited,
    exit: () => exit,
  };
}

const ready = (home: Home, timeoutMs = 120_000) =>
  waitFor(
    'the ready line',
    () => {
      if (home.exit() !== null) throw new Error(`llorch home exited:\n${home.output()}`);
      return home.output().includes('llama-orch is ready') ? true : undefined;
    },
    timeoutMs,
  );

/** Nothing of the tree runs any more (within the budget), no handoff is left and both ports are free again. */
async function nothingLeft(home: Home, budgetMs = 30_000): Promise<void> {
  await waitFor(
    'every process of the tree to be gone',
    () => (home.tree.running().length === 0 ? true : undefined),
    budgetMs,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; still running:\n${home.tree.running().join('\n')}\n${home.output()}`);
  });
  const handoffs = (await readdir(join(home.state, 'engines')).catch(() => [] as string[])).filter((n) =>
    n.endsWith('.json'),
  );
  assert.deepEqual(handoffs, [], 'no handoff is left');
  for (const bind of [home.env['ORCHD_BIND_ADDR'], home.env['POOL_MANAGERD_BIND_ADDR']]) {
    const port = Number(bind?.split(':')[1]);
    await new Promise<void>((resolve, reject) => {
      const server = createServer().once('error', reject);
      server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
    });
  }
}

describe('llorch home: the stop and crash paths', { timeout: 20 * 60_000 }, () => {
  test('Ctrl-C to `npm start` while its engine starts stops the whole tree: nothing runs on, no handoff, both ports free', async (t) => {
    const home = await startHome(t, 'npm');
    const engineLog = join(home.state, 'logs', 'engine-demo-r0.log');
    // The engine's log is opened just before it is spawned; then its process shows in the tree: the engine is
    // starting, not yet healthy (the demo engine needs a second or more to load).
    await waitFor('the engine to be launched', () => (existsSync(engineLog) ? true : undefined), 120_000, 10);
    await waitFor('the engine process to run', () => (home.tree.engines().length > 0 ? true : undefined), 30_000, 10);
    assert.doesNotMatch(home.output(), /llama-orch is ready/);
    // The terminal's Ctrl-C: SIGINT to the whole foreground process group (npm forwards it once more).
    process.kill(-home.pid, 'SIGINT');
    await waitFor('npm start to exit', () => home.exit() ?? undefined, 60_000);
    assert.doesNotMatch(home.output(), /did not stop in time/, 'each daemon stopped by itself, none was killed');
    assert.match(home.output(), /^stopped\.$/m);
    assert.doesNotMatch(home.output(), /stopping faster/, 'the copy of the Ctrl-C that npm forwards counts once');
    await nothingLeft(home);
    assert.ok(home.tree.engines().length > 0, 'an engine had been started');
  });

  test('kill -9 of pool-managerd while ready: llorch home says why and starts it again, with a new engine and no orphan', async (t) => {
    const home = await startHome(t, 'llorch');
    await ready(home);
    const handoff = await readHandoff(join(home.state, 'engines', 'demo-r0.json'));
    assert.ok(handoff);
    // llorch starts both daemons with the Node flags of @llama-orch/lifecycle, as the units and images do.
    for (const script of ['pool-managerd.js', 'orchestratord.js'])
      assert.match(home.tree.commandOf(script) ?? '', new RegExp(` ${DAEMON_NODE_FLAGS.join(' ')} \\S*${script}`));
    const poolManagerd = home.tree.pidOf('pool-managerd.js');
    assert.ok(poolManagerd !== undefined);
    process.kill(poolManagerd, 'SIGKILL');
    await waitFor(
      'pool-managerd to be back',
      () => (home.output().includes('pool-managerd is back at') ? true : undefined),
      60_000,
    );
    assert.match(
      home.output(),
      /^llorch home: pool-managerd was killed \(SIGKILL.*OOM killer.*\); starting it again$/m,
    );
    // The old engine went with its pool-managerd; the new one serves through the same orchestratord.
    const again = await waitFor(
      'a new engine',
      async () => {
        const next = await readHandoff(join(home.state, 'engines', 'demo-r0.json')).catch(() => null);
        return next !== null && next !== undefined && next.pid !== handoff.pid ? next : undefined;
      },
      60_000,
    );
    await waitFor('the old engine to be gone', () => (isAlive(handoff.pid) ? undefined : true), 30_000);
    assert.ok(isAlive(again.pid));
    const answer = await waitFor(
      'a chat through the tree',
      async () => {
        const r = await fetch(`${home.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }),
        }).catch(() => null);
        return r?.status === 200 ? r : undefined;
      },
      60_000,
    );
    assert.equal(answer.status, 200);
    assert.equal(home.exit(), null, 'llorch home runs on');
    process.kill(home.pid, 'SIGINT');
    assert.deepEqual(await home.exited, { code: 0, signal: null }, home.output());
    await nothingLeft(home, 30_000);
  });

  test('a daemon that keeps dying takes the tree down on its fourth death within a minute, leaving nothing', async (t) => {
    const home = await startHome(t, 'llorch');
    await ready(home);
    for (let death = 1; death <= 4; death += 1) {
      const orchestratord = await waitFor(
        'a running orchestratord',
        () => {
          const pids = home.tree.runningPids('orchestratord.js');
          return pids.length === 1 ? pids[0] : undefined;
        },
        30_000,
      );
      process.kill(orchestratord, 'SIGKILL');
      if (death < 4)
        await waitFor(
          `orchestratord back after death ${death}`,
          () => (home.output().split('orchestratord is back at').length - 1 === death ? true : undefined),
          30_000,
        );
    }
    const exit = await waitFor('llorch home to exit', () => home.exit() ?? undefined, 60_000);
    assert.deepEqual(exit, { code: 1, signal: null }, home.output());
    assert.match(
      home.output(),
      /^llorch home: orchestratord was killed .*, the 4th time within 60 s; stopping everything$/m,
    );
    await nothingLeft(home, 30_000);
  });

  test('kill -9 of llorch home itself: its daemons are stopped by their watchdogs, engines included, and nothing is left', async (t) => {
    const home = await startHome(t, 'llorch');
    await ready(home);
    process.kill(home.pid, 'SIGKILL');
    await home.exited;
    await nothingLeft(home, 45_000);
    assert.ok(home.tree.engines().length > 0);
  });

  test('a second Ctrl-C hurries the one graceful stop, and the tree still ends with nothing left', async (t) => {
    const home = await startHome(t, 'llorch');
    await ready(home);
    // A pool-managerd that cannot stop (stopped by SIGSTOP) makes the graceful stop last as long as it may.
    const poolManagerd = home.tree.pidOf('pool-managerd.js');
    assert.ok(poolManagerd !== undefined);
    process.kill(poolManagerd, 'SIGSTOP');
    process.kill(home.pid, 'SIGINT');
    await waitFor(
      'the stop to begin',
      () => (home.output().includes('stopping llama-orch') ? true : undefined),
      10_000,
    );
    await sleep(COALESCE_MS * 3);
    process.kill(home.pid, 'SIGINT');
    await waitFor(
      'the stop to be hurried',
      () => (home.output().includes('stopping faster') ? true : undefined),
      10_000,
    );
    const hurried = Date.now();
    const exit = await waitFor('llorch home to exit', () => home.exit() ?? undefined, 30_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `a second signal does not kill llorch home:\n${home.output()}`);
    assert.ok(Date.now() - hurried < 15_000, 'the hurried grace period is short');
    await nothingLeft(home, 15_000);
  });

  test('a third Ctrl-C kills the whole tree at once and exits with 1', async (t) => {
    const home = await startHome(t, 'llorch');
    await ready(home);
    const poolManagerd = home.tree.pidOf('pool-managerd.js');
    assert.ok(poolManagerd !== undefined);
    process.kill(poolManagerd, 'SIGSTOP');
    for (const line of ['stopping llama-orch', 'stopping faster', 'killing everything now']) {
      process.kill(home.pid, 'SIGINT');
      await waitFor(`"${line}"`, () => (home.output().includes(line) ? true : undefined), 10_000);
      await sleep(COALESCE_MS * 3);
    }
    const exit = await waitFor('llorch home to exit', () => home.exit() ?? undefined, 10_000);
    assert.deepEqual(exit, { code: 1, signal: null }, home.output());
    await nothingLeft(home, 15_000);
  });
});

describe('llorch home: what the ready banner says', { timeout: 10 * 60_000 }, () => {
  test('on a port of its own it names LLORCH_URL and links the operator page, and llorch finds the running tree of its state directory without it', async (t) => {
    const home = await startHome(t, 'llorch');
    await ready(home);
    assert.match(home.output(), new RegExp(`LLORCH_URL=${home.url} npx llorch status`));
    assert.match(home.output(), /^ {2}pool demo: demo on cpu {2}\[DEMO/m);
    // The banner links the operator page, which answers there (issue 20).
    assert.match(home.output(), new RegExp(`^ {2}operator page: ${home.url}/ui$`, 'm'));
    const page = await fetch(`${home.url}/ui`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="\/ui\/assets\/main\.js">/);
    const status = startProcess(process.execPath, [LLORCH, 'status', '--json'], {
      ...home.env,
      LLORCH_URL: undefined,
    });
    assert.equal(await status.exited, 0, status.output());
    const answer = JSON.parse(status.output()) as { url: string; pools: { pool_id: string; state: string }[] };
    assert.equal(answer.url, home.url);
    assert.deepEqual(
      answer.pools.map((p) => [p.pool_id, p.state]),
      [['demo', 'ready']],
    );
    // The logs of the tree: the daemons' JSON lines and the engine's output, in the state directory.
    const logs = join(home.state, 'logs');
    assert.deepEqual((await readdir(logs)).sort(), ['engine-demo-r0.log', 'orchestratord.log', 'pool-managerd.log']);
    for (const daemon of ['pool-managerd', 'orchestratord']) {
      const lines = (await readFile(join(logs, `${daemon}.log`), 'utf8')).trim().split('\n');
      const records = lines.map((l) => JSON.parse(l) as { name?: string; msg?: string });
      assert.ok(records.some((r) => r.name === daemon && r.msg === `${daemon} listening`));
    }
    process.kill(home.pid, 'SIGTERM');
    assert.deepEqual(await home.exited, { code: 0, signal: null });
    await nothingLeft(home);
  });

  test('says when a pool asked for a GPU runs on the CPU, and why', async (t) => {
    const fixture = await testEngine();
    const dir = await mkdtemp(join(tmpdir(), 'llorch-nogpu-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // No GPU on this machine, whatever it has: an nvidia-smi that finds none.
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin', 'nvidia-smi'), '#!/bin/sh\necho "No devices were found" >&2\nexit 6\n');
    await chmod(join(dir, 'bin', 'nvidia-smi'), 0o755);
    const config = join(dir, 'gpu.yaml');
    await writeFile(
      config,
      `cache_dir: ${fixture.cacheDir}\nengine: { device: auto }\npools:\n  - { id: big, model: demo, ctx: 512, slots: 1, gpus: [0] }\n`,
    );
    const home = await startHome(t, 'llorch', ['--config', config], {
      PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? ''}`,
    });
    await ready(home);
    assert.match(home.output(), /^ {2}pool big: demo on cpu$/m);
    assert.match(
      home.output(),
      /^ {4}! gpus \[0\] were asked for \(device: auto\), but this pool runs on the CPU:\n {6}auto: building for CPU because no NVIDIA GPU/m,
    );
    process.kill(home.pid, 'SIGTERM');
    assert.deepEqual(await home.exited, { code: 0, signal: null });
    await nothingLeft(home);
  });
});
