import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { GpuInfo } from '@llama-orch/provisioning';
import { projectPoolStatus } from '../src/registry/pool-status.ts';
import { pool, replica } from './handoff-fixture.ts';

const up = { healthy: true, seenHealthy: true };
const gpu = (index: number, total: number, free: number): GpuInfo => ({
  index,
  uuid: `G${index}`,
  name: 'x',
  memoryTotalBytes: total,
  memoryUsedBytes: total - free,
  memoryFreeBytes: free,
  computeCapability: '8.9',
});
const context = (inFlight: Record<string, number> = {}, gpus: GpuInfo[] = []) => ({
  nodeId: 'node-a',
  gpus,
  inFlight: (replicaId: string) => inFlight[replicaId] ?? 0,
});

describe('the pool status projection', () => {
  test('counts the slots of healthy serving replicas and takes the busy ones from the ledger', () => {
    const status = projectPoolStatus(
      pool({ r0: replica(up), r1: replica({ ...up, handoff: { replica_id: 'r1', slots_total: 4 } }), r2: replica() }),
      context({ r0: 2, r1: 1, r2: 1 }),
    );
    assert.deepEqual(
      [status.slots_total, status.slots_free],
      [6, 3],
      'r2 is not healthy: neither its slots nor its load count',
    );
    assert.deepEqual([status.state, status.ready, status.live], ['ready', true, true]);
    assert.deepEqual([status.node_id, status.pool_id, status.model, status.ctx_max], ['node-a', 'chat', 'demo', 2048]);
    assert.equal(status.updated_at, '2026-11-22T10:00:00.000Z');
  });

  test('never reports fewer than zero free slots', () => {
    const status = projectPoolStatus(pool({ r0: replica(up) }), context({ r0: 5 }));
    assert.equal(status.slots_free, 0);
  });

  test('shows the declared model and the last error before any engine runs, and hides the error once ready', () => {
    const failed = projectPoolStatus(
      pool({}, { declaredModel: 'hf:org/repo/m.gguf', provisioning: 'failed', lastError: 'download failed' }),
      context(),
    );
    assert.deepEqual(
      [failed.state, failed.model, failed.last_error, failed.engine_version, failed.slots_total, failed.device],
      ['failed', 'hf:org/repo/m.gguf', 'download failed', null, 0, 'cpu'],
    );
    const recovered = projectPoolStatus(pool({ r0: replica(up) }, { lastError: 'download failed' }), context());
    assert.equal(recovered.last_error, null);
  });

  test('prefers a replica’s error over the pool’s', () => {
    const status = projectPoolStatus(
      pool({ r0: replica({ seenHealthy: true, lastError: 'engine process 100 is gone' }) }, { lastError: 'older' }),
      context(),
    );
    assert.deepEqual([status.state, status.last_error], ['offline', 'engine process 100 is gone']);
  });

  test('sums the VRAM of the GPUs a CUDA pool runs on, all GPUs when it names none, none on CPU', () => {
    const gpus = [gpu(0, 100, 40), gpu(1, 200, 150), gpu(2, 400, 400)];
    const onTwo = projectPoolStatus(
      pool({ r0: replica({ ...up, handoff: { device: 'cuda', gpus: [0, 1] } }) }),
      context({}, gpus),
    );
    assert.deepEqual([onTwo.vram_total_bytes, onTwo.vram_free_bytes], [300, 190]);
    const onAll = projectPoolStatus(
      pool({ r0: replica({ ...up, handoff: { device: 'cuda', gpus: [] } }) }),
      context({}, gpus),
    );
    assert.deepEqual([onAll.vram_total_bytes, onAll.vram_free_bytes], [700, 590]);
    const cpu = projectPoolStatus(pool({ r0: replica(up) }), context({}, gpus));
    assert.deepEqual([cpu.vram_total_bytes, cpu.vram_free_bytes, cpu.device], [null, null, 'cpu']);
  });

  test('reports its GPU indexes, and is deterministic on CPU or with one slot per GPU replica of one build', () => {
    const gpus = [gpu(0, 100, 40), gpu(1, 200, 150)];
    const cpu = projectPoolStatus(
      pool({ r0: replica(up), r1: replica({ ...up, handoff: { replica_id: 'r1' } }) }),
      context(),
    );
    assert.deepEqual([cpu.gpus, cpu.deterministic], [[], true]);
    const batched = projectPoolStatus(
      pool({ r0: replica({ ...up, handoff: { device: 'cuda', gpus: [1], slots_total: 4 } }) }),
      context({}, gpus),
    );
    assert.deepEqual([batched.gpus, batched.deterministic], [[1], false]);
    const single = projectPoolStatus(
      pool({ r0: replica({ ...up, handoff: { device: 'cuda', gpus: [], slots_total: 1 } }) }),
      context({}, gpus),
    );
    assert.deepEqual([single.gpus, single.deterministic], [[0, 1], true]);
    const mixed = projectPoolStatus(
      pool({
        r0: replica(up),
        r1: replica({ ...up, handoff: { replica_id: 'r1', engine_version: 'another build' } }),
      }),
      context(),
    );
    assert.equal(mixed.deterministic, false, 'two builds may give two answers');
  });
});
