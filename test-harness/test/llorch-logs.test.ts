/**
 * `llorch logs` on the logs a real `llorch home` writes to `<state dir>/logs/`: both daemons readable and in order,
 * the request log of a real chat, a pool's engine lines, and `--follow` printing a request as it happens.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { testEngine } from '../src/engine-fixture.ts';
import { freePort } from '../src/free-port.ts';
import { homeGone } from '../src/home-world.ts';
import { startProcess, stopProcess, waitFor } from '../src/processes.ts';
import { STREAM_BUDGET_MS, within } from '../src/sse.ts';

const LLORCH = fileURLToPath(new URL('../../bin/llorch/bin/llorch.js', import.meta.url));

describe('llorch logs of a running HOME tree', { timeout: 30 * 60_000 }, () => {
  test('shows both daemons, the request log of a chat and a pool’s engine, and follows a request as it happens', async (t) => {
    await testEngine();
    const state = await mkdtemp(join(tmpdir(), 'llorch-home-logs-'));
    t.after(() => rm(state, { recursive: true, force: true }));
    t.after(() => homeGone(state));
    const { FORCE_COLOR: _force, ...parent } = process.env;
    const port = await freePort();
    const env = {
      ...parent,
      NO_COLOR: '1',
      POOL_MANAGERD_RUNTIME_DIR: state,
      ORCHD_BIND_ADDR: `127.0.0.1:${port}`,
      POOL_MANAGERD_BIND_ADDR: `127.0.0.1:${await freePort()}`,
      LLORCH_URL: `http://127.0.0.1:${port}`,
    };
    const home = startProcess(process.execPath, [LLORCH, 'home'], env);
    t.after(() => stopProcess(home));
    await waitFor('the ready line', () => (home.output().includes('llama-orch is ready') ? true : undefined), 120_000);

    const llorch = async (...args: string[]): Promise<string> => {
      const run = startProcess(process.execPath, [LLORCH, ...args], env);
      const code = await within(`llorch ${args.join(' ')}`, STREAM_BUDGET_MS, () => run.exited, run.output);
      assert.equal(code, 0, run.output());
      return run.output();
    };
    const follower = spawn(process.execPath, [LLORCH, 'logs', '--follow', '--requests'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (follower.exitCode === null && follower.signalCode === null) follower.kill('SIGKILL');
    });
    let followed = '';
    follower.stdout.on('data', (c: Buffer) => (followed += c.toString()));
    follower.stderr.on('data', (c: Buffer) => (followed += c.toString()));
    const followerExited = new Promise<string>((resolve) =>
      follower.once('exit', (code, signal) => resolve(signal ?? String(code))),
    );

    await llorch('chat', 'hi', '--max-tokens', '4');
    const dispatch =
      /^\[[\d-]+ [\d:.]+\] INFO: pool-managerd dispatch finished task=(chatcmpl-[\w-]+) pool=demo\/r0 \/v1\/chat\/completions 200 ok \d+ ms( \{"slot":\d+\})?$/m;
    const requests = await llorch('logs', '--requests');
    const taskId = dispatch.exec(requests)?.[1];
    assert.ok(taskId, `the request log shows the chat's dispatch:\n${requests}`);

    const all = await llorch('logs');
    const names = all
      .split('\n')
      .filter((l) => l.startsWith('['))
      .map((l) => /^\[[^\]]+\] \w+: (\S+) /.exec(l)?.[1]);
    assert.ok(names.includes('orchestratord') && names.includes('pool-managerd'), all);
    assert.doesNotMatch(all, /"level":|"hostname":/, 'no raw JSON lines');
    // Two daemons' lines in the order they happened: orchestratord admits the chat before pool-managerd finishes
    // its dispatch (the daemons start side by side, so their start-up lines have no fixed order).
    const admitted = all.indexOf(`orchestratord task admitted task=${taskId}`);
    assert.ok(admitted >= 0, `the chat's admission is in the log:\n${all}`);
    assert.ok(
      admitted < all.indexOf(`pool-managerd dispatch finished task=${taskId}`),
      'in the order they happened: admitted by orchestratord, then dispatched by pool-managerd',
    );
    const times = all
      .split('\n')
      .filter((l) => l.startsWith('['))
      .map((l) => l.slice(1, 24));
    assert.deepEqual([...times].sort(), times, 'interleaved by time');

    const pool = await llorch('logs', 'demo', '--lines', 'all');
    assert.match(pool, /INFO: demo\/r0 +srv .*listening on http:\/\/127\.0\.0\.1:\d+/);
    assert.match(pool, new RegExp(`pool-managerd dispatch finished task=${taskId}`));
    assert.doesNotMatch(pool, /orchestratord listening/, 'only what concerns the pool');

    // Following: a new request shows up as it happens.
    await llorch('chat', 'again', '--max-tokens', '4');
    await waitFor(
      'llorch logs --follow to print the second request',
      () => ([...followed.matchAll(new RegExp(dispatch.source, 'gm'))].length === 2 ? true : undefined),
      STREAM_BUDGET_MS,
    );
    // Ctrl-C ends it, as it would in a terminal.
    follower.kill('SIGINT');
    assert.equal(await within('llorch logs --follow to stop on SIGINT', 10_000, () => followerExited), 'SIGINT');
  });
});
