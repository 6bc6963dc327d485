import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fakeGpuHost } from '../src/fake-gpu.ts';
import { runProvisioner, tempNode } from '../src/provisioner-cli.ts';

const CUDA_CONFIG = (dir: string): string => `node_id: gpu-node
runtime_dir: ${dir}/run
cache_dir: ${dir}/cache
engine: { device: cuda }
pools:
  - { id: chat, model: demo, ctx: 2048, slots: 4, gpus: [0] }
  - { id: code, model: demo, ctx: 4096, slots: 2, gpus: [1] }
`;

interface PlanJson {
  engine: { device: { chosen: string }; cuda_architectures: string[] };
  steps: { id: string; commands: string[][] }[];
  pools: { id: string; replicas: { env: Record<string, string> }[] }[];
  findings: { level: string; code: string; message: string }[];
  ok: boolean;
}

async function plan(configFile: string, path: string): Promise<{ code: number | null; json: PlanJson; text: string }> {
  const proc = runProvisioner(['plan', '--config', configFile], { PATH: path });
  const code = await proc.exited;
  const text = proc.output();
  return { code, json: JSON.parse(text.slice(text.indexOf('{'))) as PlanJson, text };
}

describe('engine-provisioner plan', () => {
  test('prints the exact CUDA CMake invocation for a fake two-GPU host and reports the missing cuBLAS', async (t) => {
    const node = await tempNode(CUDA_CONFIG);
    t.after(node.cleanup);
    const host = await fakeGpuHost(join(node.dir, 'host'), { cublas: false });
    const { code, json } = await plan(node.configFile, host.path);
    assert.equal(code, 0, 'plan succeeds even where the toolkit is incomplete');
    assert.equal(json.engine.device.chosen, 'cuda');
    assert.deepEqual(json.engine.cuda_architectures, ['86', '89']);
    const configure = json.steps.find((s) => s.id === 'configure')?.commands[0] ?? [];
    assert.ok(configure.includes('-DGGML_CUDA=ON'));
    assert.ok(configure.includes('-DCMAKE_CUDA_ARCHITECTURES=86;89'));
    assert.ok(configure.includes(`-DCMAKE_CUDA_COMPILER=${join(node.dir, 'host', 'bin', 'nvcc')}`));
    assert.deepEqual(
      json.pools.map((p) => p.replicas[0]?.env['CUDA_VISIBLE_DEVICES']),
      ['0', '1'],
    );
    assert.deepEqual(
      json.findings.map((f) => f.code),
      ['CUBLAS_MISSING'],
    );
    assert.match(json.findings[0]?.message ?? '', new RegExp(`no libcublas\\.so is under ${host.cudaRoot}`));
    assert.equal(json.ok, false);
    assert.deepEqual(
      await readdir(node.dir).then((names) => names.filter((n) => n !== 'host' && n !== 'node.yaml')),
      [],
      'plan executes nothing',
    );
  });

  test('finds no problem when the fake toolkit has cuBLAS, and prints the same plan every time', async (t) => {
    const node = await tempNode(CUDA_CONFIG);
    t.after(node.cleanup);
    const host = await fakeGpuHost(join(node.dir, 'host'), { cublas: true });
    const first = await plan(node.configFile, host.path);
    const second = await plan(node.configFile, host.path);
    assert.deepEqual(first.json.findings, []);
    assert.equal(first.json.ok, true);
    assert.equal(first.text, second.text);
  });

  test('refuses to bring up a CUDA config when cuBLAS is missing, and builds nothing', async (t) => {
    const node = await tempNode(CUDA_CONFIG);
    t.after(node.cleanup);
    const host = await fakeGpuHost(join(node.dir, 'host'), { cublas: false });
    const proc = runProvisioner(['up', '--config', node.configFile], { PATH: host.path });
    assert.equal(await proc.exited, 1);
    assert.match(proc.output(), /cannot provision: cuBLAS missing/);
    assert.deepEqual(await readdir(join(node.dir)).then((n) => n.sort()), ['host', 'node.yaml']);
  });

  test('names the bad key of a config, an unknown source scheme and a bad environment variable', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-badcfg-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const node = await tempNode(
      () => 'engine: { source: "docker:llama" }\npools: [{ id: a, model: demo, ctx: 512, slots: 1 }]\n',
    );
    t.after(node.cleanup);
    const scheme = runProvisioner(['plan', '--config', node.configFile]);
    assert.equal(await scheme.exited, 1);
    assert.match(
      scheme.output(),
      /engine\.source \(line 1\): must be npm:node-llama-cpp@<version>, git:<url>#<ref>, path:<dir> or binary:<llama-server>/,
    );

    const mask = runProvisioner(['plan', '--config', node.configFile], { ENGINE_PROVISIONER_GPU_MASK: 'all' });
    assert.equal(await mask.exited, 2);
    assert.match(mask.output(), /ENGINE_PROVISIONER_GPU_MASK: must be GPU indexes separated by commas/);

    const none = runProvisioner(['up'], { LLORCH_CONFIG: '' });
    assert.equal(await none.exited, 2);
    assert.match(none.output(), /LLORCH_CONFIG/);

    const missing = runProvisioner(['plan', '--config', join(dir, 'nope.yaml')]);
    assert.equal(await missing.exited, 1);
    assert.match(missing.output(), /nope\.yaml: file not found/);
  });
});
