import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const CLI = fileURLToPath(new URL('../bin/engine-provisioner.js', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stderr: string;
  /** The JSON log lines among stderr's lines. */
  readonly logs: readonly { msg?: string; err?: { code?: string; findings?: { code: string }[] } }[];
}

async function up(config: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const child = spawn(process.execPath, [CLI, 'up', '--config', config], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGTERM'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const logs = stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Run['logs'][number]);
  return { code, stderr, logs };
}

describe('engine-provisioner failures', { timeout: 2 * 60_000 }, () => {
  test('log the stable code as err.code in a JSON line beside the message for people', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'provisioner-code-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const engine = join(dir, 'llama-server');
    await writeFile(engine, '#!/bin/sh\necho "version: 1 (abc1234)"\n');
    await chmod(engine, 0o755);
    const config = async (name: string, source: string): Promise<string> => {
      const file = join(dir, `${name}.yaml`);
      await writeFile(
        file,
        `runtime_dir: ${dir}/${name}\ncache_dir: ${dir}/cache\nengine:\n  source: ${source}\n  device: cpu\npools:\n  - id: gone\n    model: file:${dir}/absent.gguf\n    ctx: 512\n    slots: 1\n`,
      );
      return file;
    };

    const missing = await up(await config('missing', `binary:${engine}`), {});
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /^engine-provisioner: model file .*absent\.gguf does not exist$/m);
    const failed = missing.logs.find((line) => line.msg === 'provisioning failed');
    assert.equal(failed?.err?.code, 'PROV_MODEL_NOT_FOUND', missing.stderr);

    // No build tools on PATH: the plan is refused before anything runs, and the findings travel with their codes.
    const refused = await up(await config('refused', 'npm:node-llama-cpp@3.22.1'), { PATH: join(dir, 'empty') });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^engine-provisioner: cannot provision: cmake not found/m);
    const plan = refused.logs.find((line) => line.msg === 'provisioning failed');
    assert.equal(plan?.err?.code, 'PROV_PLAN_REFUSED', refused.stderr);
    assert.deepEqual(plan.err.findings?.map((f) => f.code).slice(0, 2), ['CMAKE_MISSING', 'COMPILER_MISSING']);
  });
});
