import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import type { PoolStatus } from '@llama-orch/contracts';
import { admissionPoolLabel, createMetrics, dispatchOutcome, type QueuedTask } from '../src/metrics.ts';

const pool = (pool_id: string, model: string, over: Partial<PoolStatus> = {}) => ({
  available: true,
  status: { pool_id, model, ready: true, draining: false, ...over } as PoolStatus,
});
const pools = [
  pool('chat', 'hf:org/chat.gguf'),
  pool('code-a', 'hf:org/code.gguf'),
  pool('code-b', 'hf:org/code.gguf'),
];

describe('the CLOUD metrics labels', () => {
  test('label a task without a pool by its pin, the pool its model names, or its model’s only pool; else none', () => {
    const label = (model: string, placement?: QueuedTask['spec']['placement']) =>
      admissionPoolLabel({ model, placement }, pools);
    assert.equal(label('hf:org/code.gguf', { mode: 'pin', pin_pool_id: 'code-b', allow_fallback: false }), 'code-b');
    assert.equal(label('code-a'), 'code-a', 'a model asked for by pool id');
    assert.equal(label('hf:org/chat.gguf'), 'chat', 'the only pool serving the model');
    assert.equal(label('hf:org/code.gguf'), 'none', 'two pools could take it');
    assert.equal(label('hf:client/anything.gguf'), 'none', 'client input never becomes a label value');
    assert.equal(label('x', { mode: 'pin', pin_pool_id: 'nope', allow_fallback: false }), 'none');
  });

  test('name a dispatch answer ok, busy, refused or unreachable', () => {
    assert.equal(dispatchOutcome({ kind: 'streaming' }), 'ok');
    assert.equal(dispatchOutcome({ kind: 'unreachable' }), 'unreachable');
    assert.equal(dispatchOutcome({ kind: 'refused', envelope: { code: 'REPLICA_EXHAUSTED' } }), 'busy');
    assert.equal(dispatchOutcome({ kind: 'refused', envelope: { code: 'POOL_UNREADY' } }), 'refused');
  });

  test('count queued tasks by pool at scrape time, with a zero series for every known pool and none', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const task = (model: string, state: QueuedTask['state'] = 'queued'): QueuedTask => ({
      state,
      spec: { model, placement: undefined },
    });
    const live = [
      task('hf:org/chat.gguf'),
      task('hf:org/chat.gguf'),
      task('hf:org/code.gguf'),
      task('chat', 'running'),
    ];
    const views = [...pools, pool('down', 'hf:org/other.gguf', { ready: false })];
    metrics.observe(
      () => live,
      () => views,
    );
    const text = await registry.metrics();
    for (const line of [
      'orchd_admission_queue_depth{pool_id="none"} 1',
      'orchd_admission_queue_depth{pool_id="chat"} 2',
      'orchd_admission_queue_depth{pool_id="code-a"} 0',
      'orchd_admission_queue_depth{pool_id="down"} 0',
      'orchd_pools_available{pool_id="chat"} 1',
      'orchd_pools_available{pool_id="down"} 0',
    ])
      assert.ok(text.includes(`${line}\n`), `metrics lack ${line}:\n${text}`);
    live.length = 0;
    assert.match(await registry.metrics(), /^orchd_admission_queue_depth\{pool_id="chat"\} 0$/m);
  });
});
