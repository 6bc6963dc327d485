import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Handoff } from '@llama-orch/contracts';
import { PoolRegistry, type RegistryChange } from '../src/registry/pool-registry.ts';

const handoff = (over: Partial<Handoff> = {}): Handoff => ({
  schema_version: 1,
  pool_id: 'chat',
  replica_id: 'r0',
  engine: 'llamacpp',
  engine_version: 'b1+abc-cpu',
  provisioning_mode: 'npm',
  url: 'http://127.0.0.1:40000',
  pid: 100,
  model: { ref: 'demo', path: '/m/demo.gguf', sha256: null },
  ctx: 2048,
  slots_total: 2,
  device: 'cpu',
  gpus: [],
  flags: [],
  started_at: '2026-11-22T10:00:00.000Z',
  ...over,
});
const healthy = { healthy: true, processing: 0, error: null };

describe('the pool registry', () => {
  test('walks provisioning → starting → ready → draining → offline and logs each change once', () => {
    const changes: RegistryChange[] = [];
    const registry = new PoolRegistry('node', (c) => changes.push(c));
    registry.declare('chat', 'demo');
    registry.setProvisioning('chat', 'starting');
    registry.upsertReplica(handoff());
    assert.equal(registry.status('chat')?.state, 'starting');
    registry.observeHealth('chat', 'r0', healthy);
    assert.equal(registry.status('chat')?.ready, true);
    registry.setDraining('chat', true, false, 'drain');
    registry.setDraining('chat', false, true, 'drained');
    assert.deepEqual(
      changes.map((c) => `${c.from}→${c.to}`),
      ['offline→provisioning', 'provisioning→starting', 'starting→ready', 'ready→draining', 'draining→offline'],
    );
  });

  test('reports failed with the provisioner error, and offline when a seen engine dies', () => {
    const registry = new PoolRegistry('node');
    registry.declare('chat', 'demo');
    registry.setProvisioning('chat', 'failed', 'model file /x.gguf does not exist');
    assert.deepEqual(
      [registry.status('chat')?.state, registry.status('chat')?.last_error],
      ['failed', 'model file /x.gguf does not exist'],
    );
    registry.upsertReplica(handoff());
    registry.observeHealth('chat', 'r0', healthy);
    registry.observeHealth('chat', 'r0', { healthy: false, processing: null, error: 'engine process 100 is gone' });
    assert.deepEqual(
      [registry.status('chat')?.state, registry.status('chat')?.last_error],
      ['offline', 'engine process 100 is gone'],
    );
  });

  test('counts a new pid for the same replica as a restart that must prove its health again', () => {
    const registry = new PoolRegistry('node');
    registry.upsertReplica(handoff());
    registry.observeHealth('chat', 'r0', healthy);
    assert.deepEqual(registry.upsertReplica(handoff({ pid: 101, url: 'http://127.0.0.1:40001' })), { restarted: true });
    assert.equal(registry.status('chat')?.ready, false);
    assert.deepEqual(registry.upsertReplica(handoff({ pid: 101, url: 'http://127.0.0.1:40001' })), {
      restarted: false,
    });
  });

  test('offers only healthy, active replicas with a free slot, least loaded first, and never more than their slots', () => {
    const registry = new PoolRegistry('node');
    registry.upsertReplica(handoff());
    registry.upsertReplica(handoff({ replica_id: 'r1', pid: 200, url: 'http://127.0.0.1:40002' }));
    registry.observeHealth('chat', 'r0', healthy);
    registry.observeHealth('chat', 'r1', healthy);
    registry.adjustInFlight('chat', 'r0', 1);
    assert.deepEqual(
      registry.dispatchable('chat').map((c) => c.replicaId),
      ['r1', 'r0'],
    );
    registry.adjustInFlight('chat', 'r0', 1);
    registry.adjustInFlight('chat', 'r1', 1);
    registry.adjustInFlight('chat', 'r1', 1);
    assert.deepEqual(registry.dispatchable('chat'), []);
    assert.equal(registry.status('chat')?.slots_free, 0);
    registry.setActive('chat', new Set(['r1']), 'reload');
    registry.adjustInFlight('chat', 'r0', -1);
    assert.deepEqual(registry.dispatchable('chat'), [], 'r0 is not active');
    assert.equal(registry.status('chat')?.slots_total, 2);
  });

  test('sums the VRAM of the pool’s GPUs on CUDA and reports none on CPU', () => {
    const registry = new PoolRegistry('node');
    const gpu = (index: number, total: number, free: number) => ({
      index,
      uuid: `G${index}`,
      name: 'x',
      memoryTotalBytes: total,
      memoryUsedBytes: total - free,
      memoryFreeBytes: free,
      computeCapability: '8.9',
    });
    registry.setGpus([gpu(0, 100, 40), gpu(1, 200, 150)]);
    registry.upsertReplica(handoff({ device: 'cuda', gpus: [0, 1] }));
    registry.upsertReplica(handoff({ pool_id: 'cpu', device: 'cpu' }));
    assert.deepEqual([registry.status('chat')?.vram_total_bytes, registry.status('chat')?.vram_free_bytes], [300, 190]);
    assert.deepEqual([registry.status('cpu')?.vram_total_bytes, registry.status('cpu')?.device], [null, 'cpu']);
  });
});
