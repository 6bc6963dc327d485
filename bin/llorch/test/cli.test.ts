import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { PoolStatus } from '@llama-orch/contracts';
import { poolIdFor } from '../src/home/home-config.ts';
import { hintFor } from '../src/home/messages.ts';
import { statusTable } from '../src/commands/status.ts';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));

function llorch(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('llorch', () => {
  test('prints usage for --help and rejects an unknown command or flag with exit code 2', () => {
    assert.equal(llorch(['--help']).status, 0);
    assert.match(llorch(['--help']).stdout, /^llorch — operator CLI/);
    const unknown = llorch(['serve']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "serve"/);
    assert.equal(llorch(['status', '--loud']).status, 2);
    assert.equal(llorch(['chat']).status, 2);
    assert.equal(llorch(['certs', 'init']).status, 2);
  });

  test('says where orchestratord does not answer instead of failing obscurely', () => {
    const run = llorch(['status'], { LLORCH_URL: 'http://127.0.0.1:9' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /orchestratord at http:\/\/127\.0\.0\.1:9 does not answer/);
    assert.equal(llorch(['status'], { LLORCH_URL: 'not a url' }).status, 2);
  });

  test('names pools after their model and gives a hint for the usual start-up failures', () => {
    assert.equal(
      poolIdFor('hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf'),
      'qwen2-5-0-5b-instruct-q4-k-m',
    );
    assert.equal(poolIdFor('file:/models/Llama 3.gguf'), 'llama-3');
    assert.match(hintFor('Error: listen EADDRINUSE: address already in use 127.0.0.1:8080'), /ORCHD_BIND_ADDR/);
    assert.match(hintFor('cannot provision: cuBLAS missing'), /CUDA toolkit/);
    assert.match(hintFor('x.gguf is not a GGUF model'), /not GGUF/);
  });

  test('shows pools as a table with busy slots, VRAM and the queue depth', () => {
    const pool = {
      pool_id: 'chat',
      node_id: 'tower',
      state: 'ready',
      slots_total: 4,
      slots_free: 1,
      vram_total_bytes: 24 * 1024 ** 3,
      vram_free_bytes: 12 * 1024 ** 3,
      device: 'cuda',
      model: 'hf:x/y/z.gguf',
    } as PoolStatus;
    const table = statusTable([pool], 3);
    assert.match(table, /^NODE\s+POOL\s+STATE/);
    assert.match(table, /tower\s+chat\s+ready\s+3\/4\s+12\.0G\/24\.0G\s+cuda\s+hf:x\/y\/z\.gguf/);
    assert.match(table, /queue depth: 3\n$/);
  });
});
