/**
 * How the daemons' Node runs: the compile cache their bin scripts turn on (so a start after the first loads no type
 * stripper) and the Node flags every way of starting them passes (llorch: home-stop-paths.test.ts; the systemd
 * units: deploy-systemd.test.ts; the images: here).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { DAEMON_NODE_FLAGS } from '@llama-orch/lifecycle';
import { ORCHESTRATORD_CLI } from '../src/orchestratord-process.ts';
import { POOL_MANAGERD_CLI } from '../src/pool-managerd-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Run a daemon's --version with this environment; the files of the compile cache under `cache` after it. */
function versionRun(script: string, env: NodeJS.ProcessEnv, cache: string): { status: number | null; files: number } {
  const run = spawnSync(process.execPath, [script, '--version'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  let files: number;
  try {
    files = readdirSync(cache, { recursive: true }).length;
  } catch {
    files = 0;
  }
  return { status: run.status, files };
}

describe('the daemons’ Node', () => {
  for (const [name, script] of [
    ['orchestratord', ORCHESTRATORD_CLI],
    ['pool-managerd', POOL_MANAGERD_CLI],
  ] as const) {
    test(`${name} keeps a compile cache under XDG_CACHE_HOME/llama-orch, or where NODE_COMPILE_CACHE says`, async (t) => {
      const home = await mkdtemp(join(tmpdir(), 'llorch-compile-cache-'));
      t.after(() => rm(home, { recursive: true, force: true }));
      const base = { ...process.env, NODE_COMPILE_CACHE: undefined, NODE_OPTIONS: undefined };

      const own = join(home, 'xdg', 'llama-orch', 'node-compile-cache');
      const first = versionRun(script, { ...base, XDG_CACHE_HOME: join(home, 'xdg') }, own);
      // One entry per module it loaded (its own sources and their dependencies): dozens, not one or two.
      assert.ok(first.files > 20, `the cache holds what the start compiled: ${first.files} files`);

      const chosen = join(home, 'chosen');
      const unused = join(home, 'unused');
      const named = versionRun(script, { ...base, XDG_CACHE_HOME: unused, NODE_COMPILE_CACHE: chosen }, chosen);
      assert.ok(named.files > 20, `NODE_COMPILE_CACHE wins: ${named.files} files`);
      assert.equal(
        versionRun(script, { ...base, XDG_CACHE_HOME: unused, NODE_COMPILE_CACHE: chosen }, unused).files,
        0,
      );
    });
  }

  test('each image sets the daemons’ Node flags and a compile cache it fills at build time', () => {
    for (const [image, script] of [
      ['orchestratord', 'bin/orchestratord/bin/orchestratord.js'],
      ['worker', 'bin/pool-managerd/bin/pool-managerd.js'],
    ] as const) {
      // Continuation lines joined: ENV and RUN instructions span several.
      const text = readFileSync(join(ROOT, 'deploy', image, 'Containerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
      const env = /^ENV (.*)$/m.exec(text)?.[1] ?? '';
      const options = /\bNODE_OPTIONS=(\S+)/.exec(env)?.[1]?.replace(/^"|"$/g, '').split(' ') ?? [];
      assert.deepEqual(options, DAEMON_NODE_FLAGS, `${image}: NODE_OPTIONS`);
      const cache = /\bNODE_COMPILE_CACHE=(\S+)/.exec(env)?.[1];
      assert.ok(cache?.startsWith('/opt/llama-orch/'), `${image}: NODE_COMPILE_CACHE inside the install directory`);
      // Filled as root after the sources are copied and before the image drops to its user.
      const copied = text.indexOf('COPY app/ /opt/llama-orch/');
      const filled = text.indexOf(`RUN node /opt/llama-orch/${script} --version`);
      const user = text.indexOf('USER 10001:10001');
      assert.ok(copied >= 0 && filled > copied && user > filled, `${image}: the cache is filled between COPY and USER`);
    }
  });
});
