import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PoolRegistry, type RegistryChange } from '../src/registry/pool-registry.ts';
import { SlotLedger } from '../src/slots/slot-ledger.ts';
import { handoff } from './handoff-fixture.ts';

const healthy = { healthy: true, error: null };
const newRegistry = (onChange?: (change: RegistryChange) => void) => {
  const slots = new SlotLedger();
  const registry = new PoolRegistry({ nodeId: 'node', slots, ...(onChange ? { onChange } : {}) });
  return { registry, slots };
};

describe('the pool registry', () => {
  test('walks provisioning → starting → ready → draining → offline and logs each change once', () => {
    const changes: RegistryChange[] = [];
    const { registry } = newRegistry((c) => changes.push(c));
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
    const { registry } = newRegistry();
    registry.declare('chat', 'demo');
    registry.setProvisioning('chat', 'failed', 'model file /x.gguf does not exist');
    assert.deepEqual(
      [registry.status('chat')?.state, registry.status('chat')?.last_error],
      ['failed', 'model file /x.gguf does not exist'],
    );
    registry.upsertReplica(handoff());
    registry.observeHealth('chat', 'r0', healthy);
    registry.observeHealth('chat', 'r0', { healthy: false, error: 'engine process 100 is gone' });
    assert.deepEqual(
      [registry.status('chat')?.state, registry.status('chat')?.last_error],
      ['offline', 'engine process 100 is gone'],
    );
  });

  test('counts a new pid for the same replica as a restart that must prove its health again', () => {
    const { registry } = newRegistry();
    registry.upsertReplica(handoff());
    registry.observeHealth('chat', 'r0', healthy);
    assert.deepEqual(registry.upsertReplica(handoff({ pid: 101, url: 'http://127.0.0.1:40001' })), { restarted: true });
    assert.equal(registry.status('chat')?.ready, false);
    assert.deepEqual(registry.upsertReplica(handoff({ pid: 101, url: 'http://127.0.0.1:40001' })), {
      restarted: false,
    });
  });

  test('offers only healthy, active replicas with a free slot, least loaded first, and never more than their slots', () => {
    const { registry, slots } = newRegistry();
    registry.upsertReplica(handoff());
    registry.upsertReplica(handoff({ replica_id: 'r1', pid: 200, url: 'http://127.0.0.1:40002' }));
    registry.upsertReplica(handoff({ replica_id: 'r2', pid: 300, url: 'http://127.0.0.1:40003' }));
    registry.observeHealth('chat', 'r0', healthy);
    registry.observeHealth('chat', 'r1', healthy);
    assert.deepEqual(
      registry.candidates('chat').map((c) => c.replicaId),
      ['r0', 'r1'],
      'r2 has not answered /health',
    );
    const claim = () => slots.claim('chat', registry.candidates('chat'));
    const first = claim();
    assert.equal(first?.replicaId, 'r0', 'ties go to the lower replica id');
    assert.equal(claim()?.replicaId, 'r1', 'then the less loaded one');
    const held = [first, claim(), claim()];
    assert.deepEqual(
      held.slice(1).map((g) => g?.replicaId),
      ['r0', 'r1'],
    );
    assert.equal(claim(), null, 'both replicas are full');
    assert.equal(registry.status('chat')?.slots_free, 0);
    assert.equal(slots.inFlight('chat'), 4);
    registry.setActive('chat', new Set(['r1']), 'reload');
    first?.release();
    assert.equal(claim(), null, 'r0 has a free slot but is not active');
    assert.equal(registry.status('chat')?.slots_total, 2);
    registry.setDraining('chat', true, false, 'drain');
    assert.deepEqual(registry.candidates('chat'), [], 'a draining pool offers nothing');
  });

  test('sums the VRAM of the pool’s GPUs on CUDA and reports none on CPU', () => {
    const { registry } = newRegistry();
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

  test('forgets a pool whose last handoff went away after the grace, but never a configured or draining one', () => {
    const { registry } = newRegistry();
    const later = (ms: number) => new Date(Date.now() + ms);
    registry.upsertReplica(handoff({ pool_id: 'watched' }));
    registry.upsertReplica(handoff({ pool_id: 'draining' }));
    registry.declare('configured', 'demo');
    registry.upsertReplica(handoff({ pool_id: 'configured' }));
    registry.setProvisioning('configured', null);
    registry.setDraining('draining', true, false, 'drain');
    for (const id of ['watched', 'draining', 'configured']) registry.removeReplica(id, 'r0', 'handoff removed');
    assert.deepEqual(registry.forgetGone(60_000), [], 'nothing before the grace');
    assert.deepEqual(registry.poolIds(), ['configured', 'draining', 'watched']);
    assert.deepEqual(registry.forgetGone(60_000, later(61_000)), ['watched']);
    assert.deepEqual(registry.poolIds(), ['configured', 'draining']);
    assert.equal(registry.status('watched'), null);

    // A pool with a replica again is kept however old it is; one that lost it again waits the full grace.
    registry.upsertReplica(handoff({ pool_id: 'back' }));
    assert.deepEqual(registry.forgetGone(60_000, later(120_000)), []);
    registry.removeReplica('back', 'r0', 'handoff removed');
    assert.deepEqual(registry.forgetGone(60_000, later(30_000)), []);
    assert.deepEqual(registry.forgetGone(60_000, later(61_000)), ['back']);
  });
});
