import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PoolRegistry } from '../src/registry/pool-registry.ts';
import { SlotLedger } from '../src/slots/slot-ledger.ts';
import { handoff } from './handoff-fixture.ts';

describe('pool kinds in the registry', () => {
  test('a pool reports the kind it was configured with, then the kind its engines were started for', () => {
    const registry = new PoolRegistry({ nodeId: 'node', slots: new SlotLedger() });
    registry.declare('embed', 'demo', 'embedding');
    registry.declare('chat', 'demo');
    assert.equal(registry.status('embed')?.kind, 'embedding');
    assert.equal(registry.status('chat')?.kind, 'completion');
    assert.equal(registry.kind('embed'), 'embedding');
    registry.upsertReplica(handoff({ pool_id: 'rank', kind: 'rerank' }));
    assert.equal(registry.status('rank')?.kind, 'rerank');
    // A handoff written before kinds existed names none: a completion engine.
    registry.upsertReplica(handoff({ pool_id: 'old' }));
    assert.equal(registry.status('old')?.kind, 'completion');
    assert.equal(registry.kind('unknown'), null);
  });
});
