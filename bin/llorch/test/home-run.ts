/** Runs of `llorch home` against a stand-in engine, for the tests of what it says before and while it starts. */
import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));

export interface HomeRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `llorch home <args>` with its state in `<dir>/run`, on free loopback ports unless `env` says otherwise, until it
 * exits (or is stopped after the budget, which fails the run's expectations).
 */
export async function runHome(
  dir: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  budgetMs = 60_000,
): Promise<HomeRun> {
  const child = spawn(process.execPath, [CLI, 'home', ...args], {
    env: {
      ...process.env,
      POOL_MANAGERD_RUNTIME_DIR: join(dir, 'run'),
      ORCHD_BIND_ADDR: '127.0.0.1:0',
      POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0',
      LLORCH_CONFIG: undefined,
      ORCHD_API_KEYS: undefined,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGTERM'), budgetMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * A node config whose one pool `broken` uses `model`, served by a stand-in llama-server that only tells its
 * version (so a pool that gets as far as starting it fails at once).
 */
export async function standInConfig(dir: string, model: string): Promise<string> {
  const engine = join(dir, 'llama-server');
  await writeFile(engine, '#!/bin/sh\necho "version: 1 (abc1234)"\n');
  await chmod(engine, 0o755);
  const config = join(dir, 'node.yaml');
  await writeFile(
    config,
    `runtime_dir: ${dir}/run\ncache_dir: ${dir}/cache\nengine:\n  source: binary:${engine}\n  device: cpu\npools:\n  - id: broken\n    model: ${JSON.stringify(model)}\n    ctx: 512\n    slots: 1\n`,
  );
  return config;
}
