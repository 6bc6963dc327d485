import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { derivePoolState, dispatchCandidates, servingReplicas } from '../src/registry/pool-state.ts';
import { pool, replica } from './handoff-fixture.ts';

const up = { healthy: true, seenHealthy: true };

describe('the pool state derivation', () => {
  test('is ready while any serving replica answers /health', () => {
    assert.equal(derivePoolState(pool({ r0: replica(up), r1: replica() })), 'ready');
  });

  test('drained wins over everything, then draining', () => {
    assert.equal(derivePoolState(pool({ r0: replica(up) }, { drained: true, draining: true })), 'offline');
    assert.equal(derivePoolState(pool({ r0: replica(up) }, { draining: true })), 'draining');
  });

  test('reports the provisioner’s lifecycle until a handoff exists, and failed even when one does', () => {
    assert.equal(derivePoolState(pool({}, { provisioning: 'provisioning' })), 'provisioning');
    assert.equal(derivePoolState(pool({}, { provisioning: 'starting' })), 'starting');
    assert.equal(derivePoolState(pool({ r0: replica() }, { provisioning: 'failed' })), 'failed');
  });

  test('is starting while no replica has ever answered, offline once one that did stops answering', () => {
    assert.equal(derivePoolState(pool({ r0: replica() })), 'starting');
    assert.equal(derivePoolState(pool({ r0: replica({ seenHealthy: true }) })), 'offline');
    assert.equal(derivePoolState(pool()), 'offline', 'nothing configured, nothing seen');
  });

  test('looks only at the active generation during a reload', () => {
    const reloading = pool({ r0: replica(up), 'g2-r0': replica() }, { active: new Set(['g2-r0']) });
    assert.deepEqual(
      servingReplicas(reloading).map(([id]) => id),
      ['g2-r0'],
    );
    assert.equal(derivePoolState(reloading), 'starting');
  });

  test('offers healthy replicas of the active generation of a ready pool as dispatch candidates', () => {
    const ready = pool(
      {
        r0: replica({ ...up, handoff: { slots_total: 3 } }),
        r1: replica(),
        r2: replica({ ...up, handoff: { replica_id: 'r2' } }),
      },
      { active: new Set(['r0', 'r1']) },
    );
    assert.deepEqual(dispatchCandidates(ready), [{ replicaId: 'r0', slotsTotal: 3 }]);
    assert.deepEqual(dispatchCandidates({ ...ready, draining: true }), [], 'a draining pool takes no dispatch');
  });
});

describe('the state of a pool loaded on demand', () => {
  const onDemand = (residency: 'unloaded' | 'loading' | 'unloading' | null) => ({
    onDemand: { residency, loadMs: null, progress: null },
  });

  test('is unloaded or unloading between runs, and takes no dispatch then', () => {
    assert.equal(derivePoolState(pool({}, onDemand('unloaded'))), 'unloaded');
    const unloading = pool({ r0: replica(up) }, onDemand('unloading'));
    assert.equal(derivePoolState(unloading), 'unloading');
    assert.deepEqual(dispatchCandidates(unloading), []);
  });

  test('is loading until an engine answers, then ready; a failed load is failed', () => {
    assert.equal(derivePoolState(pool({}, { ...onDemand('loading'), provisioning: 'starting' })), 'loading');
    assert.equal(derivePoolState(pool({ r0: replica() }, onDemand('loading'))), 'loading');
    assert.equal(derivePoolState(pool({ r0: replica(up) }, onDemand('loading'))), 'ready');
    assert.equal(derivePoolState(pool({}, { ...onDemand(null), provisioning: 'failed' })), 'failed');
  });
});
