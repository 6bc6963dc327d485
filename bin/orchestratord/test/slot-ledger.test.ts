import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SlotLedger, type SlotLease } from '../src/slots/slot-ledger.ts';

const POOLS = ['a', 'b'] as const;
const ops = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('claim' as const), pool: fc.nat(1) }),
    fc.record({ kind: fc.constant('release' as const), pick: fc.nat(), twice: fc.boolean() }),
    fc.record({ kind: fc.constant('report' as const), pool: fc.nat(1), othersBusy: fc.nat(4) }),
  ),
  { maxLength: 200 },
);

describe('the orchestratord slot ledger (property tests)', () => {
  test('counts each lease once however often it is released, and never offers more than the pool has', () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 1, max: 6 }), (sequence, slotsTotal) => {
        const ledger = new SlotLedger();
        const open: SlotLease[] = [];
        const others = new Map<string, number>();
        for (const op of sequence) {
          if (op.kind === 'claim') {
            const pool = POOLS[op.pool] ?? 'a';
            // A caller claims only what the ledger offers, as the scheduler does.
            if (ledger.free(pool, slotsTotal) > 0) open.push(ledger.claim(pool));
          } else if (op.kind === 'release') {
            const lease = open.splice(op.pick % Math.max(1, open.length), 1)[0];
            lease?.release();
            if (op.twice) lease?.release();
          } else {
            const pool = POOLS[op.pool] ?? 'a';
            // pool-managerd counts our leases plus whatever others hold, never past slots_total.
            const mine = ledger.held(pool);
            const theirs = Math.min(op.othersBusy, slotsTotal - mine);
            if (theirs < 0) continue;
            others.set(pool, theirs);
            ledger.observe(pool, slotsTotal, slotsTotal - mine - theirs);
          }
          for (const pool of POOLS) {
            const held = open.filter((l) => l.poolId === pool).length;
            assert.equal(ledger.held(pool), held, 'one count per open lease');
            assert.equal(ledger.others(pool), others.get(pool) ?? 0);
            assert.ok(held + ledger.others(pool) <= slotsTotal, 'never more in flight than slots_total');
            assert.equal(ledger.free(pool, slotsTotal), slotsTotal - held - (others.get(pool) ?? 0));
          }
        }
        for (const lease of open.splice(0)) lease.release();
        for (const pool of POOLS) assert.equal(ledger.held(pool), 0, 'every lease released returns its slot');
      }),
    );
  });

  test('takes what a report counts beyond our own leases for another replica’s work', () => {
    const ledger = new SlotLedger();
    const lease = ledger.claim('p');
    ledger.observe('p', 4, 1);
    assert.equal(ledger.others('p'), 2, '3 busy, 1 of them ours');
    assert.equal(ledger.free('p', 4), 1);
    lease.release();
    assert.equal(ledger.free('p', 4), 2);
    ledger.observe('p', 4, 4);
    assert.equal(ledger.free('p', 4), 4);
  });
});
