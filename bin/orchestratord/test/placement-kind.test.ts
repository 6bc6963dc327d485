import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PoolKind } from '@llama-orch/contracts';
import { place, type PoolView } from '../src/placement/place.ts';

function view(poolId: string, kind: PoolKind | undefined): PoolView {
  return {
    nodeUrl: 'http://127.0.0.1:9200',
    available: true,
    leases: 0,
    othersBusy: 0,
    status: {
      pool_id: poolId,
      node_id: 'n',
      state: 'ready',
      live: true,
      ready: true,
      draining: false,
      model: 'demo',
      ...(kind === undefined ? {} : { kind }),
      engine: 'llamacpp',
      engine_version: 'x',
      slots_total: 2,
      slots_free: 2,
      ctx_max: 512,
      device: 'cpu',
      vram_total_bytes: null,
      vram_free_bytes: null,
      last_error: null,
      updated_at: '2026-11-22T10:00:00.000Z',
    },
  };
}

describe('placement by pool kind', () => {
  const pools = [view('chat', undefined), view('embed', 'embedding'), view('rank', 'rerank')];
  const chosen = (kind?: PoolKind): string => {
    const placement = place(pools, { model: 'demo', ...(kind === undefined ? {} : { kind }) });
    return placement.kind === 'assigned' ? placement.pool.status.pool_id : placement.kind;
  };

  test('a task goes only to a pool of its kind; a status without a kind is a completion pool', () => {
    assert.equal(chosen(), 'chat');
    assert.equal(chosen('completion'), 'chat');
    assert.equal(chosen('embedding'), 'embed');
    assert.equal(chosen('rerank'), 'rank');
  });

  test('a model served only for other kinds is MODEL_NOT_AVAILABLE naming them and the kind missing', () => {
    const placement = place([view('chat', 'completion'), view('rank', 'rerank')], { model: 'demo', kind: 'embedding' });
    assert.deepEqual(placement, {
      kind: 'impossible',
      code: 'MODEL_NOT_AVAILABLE',
      message: 'model demo is served for completion and rerank only: no pool of kind embedding serves it',
    });
    const unknown = place(pools, { model: 'other', kind: 'embedding' });
    assert.equal(unknown.kind === 'impossible' ? unknown.message : '', 'no pool serves model other');
  });
});
