import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_ENGINE_SOURCE } from '@llama-orch/contracts';
import { loadNodeConfig, nodeIdFromHostname, parseNodeConfig, resolveNodeConfig } from '../src/index.ts';

const TWO_GPUS = `
node_id: tower
engine:
  device: cuda
pools:
  - id: chat
    model: hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf
    ctx: 8192
    slots: 4
    gpus: [0]
  - id: code
    model: file:models/coder.gguf
    ctx: 16384
    slots: 2
    gpus: [1]
`;

describe('node config YAML', () => {
  test('parses two pools on two GPUs and fills the engine defaults', () => {
    const parsed = parseNodeConfig(TWO_GPUS, 'pools.yaml');
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
    assert.equal(parsed.value.engine.source, DEFAULT_ENGINE_SOURCE);
    assert.equal(parsed.value.engine.device, 'cuda');
    assert.deepEqual(
      parsed.value.pools.map((p) => [p.id, p.gpus, p.replicas]),
      [
        ['chat', [0], 1],
        ['code', [1], 1],
      ],
    );
  });

  test('names the key path and the line of an unknown key', () => {
    const parsed = parseNodeConfig(TWO_GPUS.replace('    gpus: [1]', '    gpu: 1'), 'pools.yaml');
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.equal(parsed.message, 'pools.yaml: pools[1].gpu (line 15): unknown key');
  });

  test('names every bad value at once', () => {
    const parsed = parseNodeConfig('pools:\n  - id: Chat\n    model: s3://b/k\n    ctx: 4k\n    slots: 0\n', 'c.yaml');
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.deepEqual(
      parsed.issues.map((i) => i.path),
      ['pools[0].id (line 2)', 'pools[0].model (line 3)', 'pools[0].ctx (line 4)', 'pools[0].slots (line 5)'],
    );
  });

  test('reports YAML syntax errors and repeated keys with their line', () => {
    const broken = parseNodeConfig('pools:\n  - id: a\n   model: demo\n', 'c.yaml');
    assert.equal(broken.ok, false);
    if (!broken.ok) assert.match(broken.message, /^c\.yaml: not valid YAML: \(yaml line \d+, column \d+\)/);
    const repeated = parseNodeConfig('pools: []\npools: []\n', 'c.yaml');
    assert.equal(repeated.ok, false);
    if (!repeated.ok) assert.match(repeated.message, /line 2/);
  });

  test('rejects an empty file by naming pools', () => {
    const parsed = parseNodeConfig('', 'empty.yaml');
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.message, /^empty\.yaml: pools: /);
  });
});

describe('resolved node config', () => {
  test('makes paths absolute against the config directory and home, and derives the node id', () => {
    const parsed = parseNodeConfig(TWO_GPUS.replace('node_id: tower\n', 'runtime_dir: ./run\ncache_dir: ~/c\n'), 'x');
    assert.ok(parsed.ok);
    const resolved = resolveNodeConfig(parsed.value, {
      baseDir: '/etc/llorch',
      homeDir: '/home/ada',
      hostname: 'Tower.local',
    });
    assert.equal(resolved.node_id, 'tower-local');
    assert.equal(resolved.runtime_dir, '/etc/llorch/run');
    assert.equal(resolved.cache_dir, '/home/ada/c');
    assert.equal(resolved.pools[1]?.model, 'file:/etc/llorch/models/coder.gguf');
    assert.equal(resolved.pools[0]?.model.startsWith('hf:'), true);
    assert.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.pools) && Object.isFrozen(resolved.pools[0]));
  });

  test('uses ~/.cache/llama-orch and ~/.local/state/llama-orch when no directories are set', () => {
    const parsed = parseNodeConfig('pools: [{id: demo, model: demo, ctx: 2048, slots: 1}]', 'x');
    assert.ok(parsed.ok);
    const resolved = resolveNodeConfig(parsed.value, { baseDir: '/', homeDir: '/home/ada', hostname: 'h' });
    assert.equal(resolved.cache_dir, '/home/ada/.cache/llama-orch');
    assert.equal(resolved.runtime_dir, '/home/ada/.local/state/llama-orch');
  });

  test('turns any hostname into a valid node id', () => {
    assert.equal(nodeIdFromHostname('GPU_Box.lan'), 'gpu-box-lan');
    assert.equal(nodeIdFromHostname('---'), 'node');
    assert.equal(nodeIdFromHostname('a'.repeat(80)).length, 63);
  });
});

describe('loading a config file', () => {
  test('reads, validates and resolves a file, and names a missing one', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'pools.yaml');
    await writeFile(file, TWO_GPUS);
    const loaded = await loadNodeConfig(file);
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.message);
    assert.equal(loaded.value.pools[1]?.model, `file:${join(dir, 'models/coder.gguf')}`);

    const missing = await loadNodeConfig(join(dir, 'nope.yaml'));
    assert.equal(missing.ok, false);
    if (!missing.ok) assert.equal(missing.message, `${join(dir, 'nope.yaml')}: file not found`);
  });
});
