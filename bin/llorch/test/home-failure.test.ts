import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));

/** Run `llorch home` with real pool-managerd and orchestratord on free loopback ports until it exits. */
async function home(dir: string, config: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'home', '--config', config], {
    env: {
      ...process.env,
      POOL_MANAGERD_RUNTIME_DIR: join(dir, 'run'),
      ORCHD_BIND_ADDR: '127.0.0.1:0',
      POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0',
      LLORCH_CONFIG: undefined,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGTERM'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A node config whose one pool uses `model`, served by a stand-in llama-server that only tells its version. */
async function nodeConfig(dir: string, model: string): Promise<string> {
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

describe('llorch home when a pool cannot start', { timeout: 3 * 60_000 }, () => {
  test('names the failed pool and gives the hint for the code pool-managerd logged with it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-home-fail-'));
    t.after(() => rm(dir, { recursive: true, force: true }));

    const page = join(dir, 'page.gguf');
    await writeFile(page, '<!DOCTYPE html><html></html>');
    const notGguf = await home(dir, await nodeConfig(dir, `file:${page}`));
    assert.equal(notGguf.code, 1, notGguf.stdout + notGguf.stderr);
    assert.match(notGguf.stderr, /^llorch home: pool broken failed: .*page\.gguf is not a GGUF model/m);
    assert.match(notGguf.stderr, /^The model file is not GGUF: check the path or URL/m);

    // A failure whose text no hint ever matched: the code (PROV_MODEL_NOT_FOUND) alone picks the advice.
    const missing = await home(dir, await nodeConfig(dir, `file:${join(dir, 'absent.gguf')}`));
    assert.equal(missing.code, 1, missing.stdout + missing.stderr);
    assert.match(missing.stderr, /^llorch home: pool broken failed: model file .*absent\.gguf does not exist/m);
    assert.match(missing.stderr, /^The model file does not exist: check the file: path\.$/m);
  });
});
