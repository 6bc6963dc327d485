import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PoolKind } from '@llama-orch/contracts';
import { place, type PoolView } from '../src/placement/place.ts';
import { poolView } from './pool-view-fixture.ts';

function view(poolId: string, kind: PoolKind | undefined): PoolView {
  return poolView(poolId, kind === undefined ? {} : { kind });
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
