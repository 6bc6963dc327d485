import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { testEngine } from '../src/engine-fixture.ts';
import { stopProcess } from '../src/processes.ts';
import { handoffsIn, runProvisioner, tempNode } from '../src/provisioner-cli.ts';

const exists = (dir: string): Promise<string[]> => readdir(dir).catch(() => []);

describe(
  'engine-provisioner refuses bad inputs with a clear error and leaves nothing half-written',
  { timeout: 45 * 60_000 },
  () => {
    test('a model file that is not GGUF is never handed to llama-server', async (t) => {
      const fixture = await testEngine();
      const node = await tempNode(
        (dir) => `runtime_dir: ${dir}/run
cache_dir: ${fixture.cacheDir}
engine: { device: cpu }
pools: [{ id: bad, model: "file:${dir}/model.gguf", ctx: 512, slots: 1 }]
`,
      );
      t.after(node.cleanup);
      await writeFile(join(node.dir, 'model.gguf'), '<!DOCTYPE html><title>Sign in</title>');
      const proc = runProvisioner(['up', '--config', node.configFile]);
      t.after(() => stopProcess(proc));
      assert.equal(await proc.exited, 1);
      assert.match(proc.output(), /model\.gguf is not a GGUF model \(starts with "<!DO", expected "GGUF"\)/);
      assert.deepEqual(await handoffsIn(node.handoffDir), []);
    });

    test('a sha256 mismatch stops the pool before launch', async (t) => {
      const fixture = await testEngine();
      const node = await tempNode(
        (dir) => `runtime_dir: ${dir}/run
cache_dir: ${fixture.cacheDir}
engine: { device: cpu }
pools: [{ id: demo, model: "file:${fixture.demoModel}", sha256: "${'0'.repeat(64)}", ctx: 512, slots: 1 }]
`,
      );
      t.after(node.cleanup);
      const proc = runProvisioner(['up', '--config', node.configFile]);
      t.after(() => stopProcess(proc));
      assert.equal(await proc.exited, 1);
      assert.match(proc.output(), new RegExp(`sha256 mismatch: expected ${'0'.repeat(64)}, got [0-9a-f]{64}`));
      assert.deepEqual(await handoffsIn(node.handoffDir), []);
    });

    test('a failing build reports the log tail and leaves no cache entry', async (t) => {
      const node = await tempNode(
        (dir) => `runtime_dir: ${dir}/run
cache_dir: ${dir}/cache
engine: { source: "path:${dir}/llama.cpp", device: cpu }
pools: [{ id: demo, model: demo, ctx: 512, slots: 1 }]
`,
      );
      t.after(node.cleanup);
      await mkdir(join(node.dir, 'llama.cpp'));
      await writeFile(
        join(node.dir, 'llama.cpp', 'CMakeLists.txt'),
        'cmake_minimum_required(VERSION 3.14)\nproject(broken CXX)\nmessage(FATAL_ERROR "this tree does not build")\n',
      );
      const proc = runProvisioner(['up', '--config', node.configFile]);
      t.after(() => stopProcess(proc));
      assert.equal(await proc.exited, 1);
      const output = proc.output();
      assert.match(output, /cmake configure failed \(cmake exited 1\)/);
      assert.match(output, /this tree does not build/);
      assert.match(output, /last lines of .*build-[0-9a-f]+\.log/);
      assert.deepEqual(await exists(join(node.dir, 'cache', 'engines')), []);
      assert.deepEqual(await handoffsIn(node.handoffDir), []);
    });
  },
);
