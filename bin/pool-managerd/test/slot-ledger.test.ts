import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parallelTasks } from '../src/control/dispatcher.ts';
import { SlotLedger, type SlotCandidate, type SlotGuard } from '../src/slots/slot-ledger.ts';

/** Each replica's slots_total is fixed, as a handoff fixes it. */
const SLOTS: Record<string, number> = { r0: 1, r1: 2, r2: 3, r3: 4 };
const POOLS = ['chat', 'code'] as const;
const REPLICAS = Object.keys(SLOTS);

type Op =
  | { kind: 'claim'; pool: number; replicas: string[]; releaseOnAbort: boolean }
  | { kind: 'release'; pick: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'abortAll'; pool: number };

const ops = fc.array(
  fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant('claim' as const),
        pool: fc.nat(POOLS.length - 1),
        replicas: fc.subarray(REPLICAS),
        releaseOnAbort: fc.boolean(),
      }),
      weight: 3,
    },
    { arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('abortAll' as const), pool: fc.nat(POOLS.length - 1) }), weight: 1 },
  ),
  { maxLength: 300 },
);

const candidates = (ids: readonly string[]): SlotCandidate[] =>
  ids.map((replicaId) => ({ replicaId, slotsTotal: SLOTS[replicaId] ?? 0 }));

/** Run ops against a ledger and a plain model of it, checking the invariants after every step. */
function run(sequence: readonly Op[]): void {
  const ledger = new SlotLedger();
  const guards: SlotGuard[] = [];
  const releases = new Map<SlotGuard, number>();
  const held = (pool: string, replica?: string): SlotGuard[] =>
    guards.filter((g) => !g.released && g.poolId === pool && (replica === undefined || g.replicaId === replica));
  const release = (guard: SlotGuard): void => {
    if (guard.release()) releases.set(guard, (releases.get(guard) ?? 0) + 1);
  };

  for (const op of sequence) {
    if (op.kind === 'claim') {
      const pool = POOLS[op.pool] ?? 'chat';
      const offered = candidates(op.replicas);
      const loads = offered
        .map((c) => ({ ...c, held: held(pool, c.replicaId).length }))
        .filter((c) => c.held < c.slotsTotal);
      const guard = ledger.claim(pool, offered);
      if (loads.length === 0) {
        assert.equal(guard, null, 'no candidate has a free slot');
        continue;
      }
      assert.ok(guard !== null, 'a candidate has a free slot');
      const best = Math.min(...loads.map((c) => c.held / c.slotsTotal));
      const leastLoaded = loads.filter((c) => c.held / c.slotsTotal === best).map((c) => c.replicaId);
      assert.ok(leastLoaded.includes(guard.replicaId), `least loaded: ${guard.replicaId} of ${leastLoaded.join()}`);
      assert.equal(guard.poolId, pool);
      // Its engine slot: one of the replica's, and held by no other guard there (no dispatch waits in the engine).
      const total = offered.find((c) => c.replicaId === guard.replicaId)?.slotsTotal ?? 0;
      assert.ok(guard.slot !== null && guard.slot >= 0 && guard.slot < total, `slot ${guard.slot} of ${total}`);
      assert.ok(
        !held(pool, guard.replicaId).some((g) => g.slot === guard.slot),
        `slot ${guard.slot} of ${guard.replicaId} is held twice`,
      );
      guards.push(guard);
      if (op.releaseOnAbort) guard.signal.addEventListener('abort', () => release(guard), { once: true });
    } else if (op.kind === 'release' || op.kind === 'abort') {
      const guard = guards[op.pick % Math.max(1, guards.length)];
      if (guard === undefined) continue;
      if (op.kind === 'abort') guard.abort(new Error('client went away'));
      else {
        const wasReleased = guard.released;
        const before = releases.get(guard) ?? 0;
        release(guard);
        assert.equal(releases.get(guard) ?? 0, wasReleased ? before : before + 1);
      }
    } else {
      const pool = POOLS[op.pool] ?? 'chat';
      const open = held(pool).length;
      assert.equal(ledger.abortAll(pool), open, 'abortAll names every slot it aborted');
    }
    for (const pool of POOLS) {
      let total = 0;
      for (const replica of REPLICAS) {
        const count = ledger.inFlight(pool, replica);
        assert.equal(count, held(pool, replica).length, `${pool}/${replica} counts what is held`);
        assert.ok(count <= (SLOTS[replica] ?? 0), `${pool}/${replica} holds no more than its slots`);
        total += count;
      }
      assert.equal(ledger.inFlight(pool), total);
    }
  }
  for (const guard of guards) release(guard);
  for (const guard of guards) assert.equal(guard.release(), false, 'a second release does nothing');
  for (const guard of guards) assert.equal(releases.get(guard), 1, 'every guard released exactly once');
  for (const pool of POOLS) assert.equal(ledger.inFlight(pool), 0, `${pool} is back to zero`);
}

describe('the slot ledger', () => {
  test('never gives a replica more than slots_total, releases every guard exactly once and returns to zero', () => {
    fc.assert(
      fc.property(ops, (sequence) => run(sequence)),
      { numRuns: 300 },
    );
  });

  test('claims the least loaded replica with a free slot, ties broken by the longest unused free slot, then replica id', () => {
    const ledger = new SlotLedger();
    const offered = [
      { replicaId: 'r1', slotsTotal: 2 },
      { replicaId: 'r0', slotsTotal: 4 },
    ];
    const picks = Array.from({ length: 6 }, () => ledger.claim('chat', offered)?.replicaId ?? null);
    assert.deepEqual(picks, ['r0', 'r1', 'r0', 'r0', 'r1', 'r0']);
    assert.equal(ledger.claim('chat', offered), null);
    assert.equal(ledger.claim('chat', []), null, 'no candidate, no slot');
    assert.equal(ledger.inFlight('code'), 0, 'pools are counted apart');
  });

  test('one claim after another on idle replicas takes every engine slot in turn, least recently used first; a preferred free slot is taken whatever the load (issue 19)', () => {
    const ledger = new SlotLedger();
    const offered = [
      { replicaId: 'r0', slotsTotal: 2 },
      { replicaId: 'r1', slotsTotal: 2 },
    ];
    const one = (prefer?: { replicaId: string; slot: number | null }): string => {
      const guard = ledger.claim('chat', offered, 1, prefer);
      assert.ok(guard !== null);
      guard.release();
      return `${guard.replicaId}/${guard.slot}`;
    };
    // Sequential work spreads over both engines and all four slots: no prompt cached in a slot is pushed out while
    // a slot that was used longer ago is free.
    assert.deepEqual([one(), one(), one(), one(), one()], ['r0/0', 'r0/1', 'r1/0', 'r1/1', 'r0/0']);
    // A preferred slot wins over the least recently used one, and over a less loaded replica.
    assert.equal(one({ replicaId: 'r1', slot: 1 }), 'r1/1');
    const busy = ledger.claim('chat', offered, 1, { replicaId: 'r1', slot: 0 });
    assert.equal(`${busy?.replicaId}/${busy?.slot}`, 'r1/0');
    assert.equal(ledger.holder('chat', 'r1', 0), busy);
    // Its slot is held: the preferred replica's other slot, since the replica has room.
    assert.equal(one({ replicaId: 'r1', slot: 0 }), 'r1/1');
    // Any free slot of a replica (its RAM prompt cache): null.
    assert.equal(one({ replicaId: 'r1', slot: null }), 'r1/1');
    busy?.release();
    assert.equal(ledger.holder('chat', 'r1', 0), undefined);
  });

  test('a request the engine splits holds as many slots as its parts, at most all of its replica’s', () => {
    const ledger = new SlotLedger();
    const offered = [{ replicaId: 'r0', slotsTotal: 2 }];
    const six = ledger.claim('embed', offered, 6);
    assert.deepEqual([six?.slots, ledger.inFlight('embed', 'r0')], [2, 2], 'six inputs on two slots take both');
    assert.equal(ledger.claim('embed', offered), null, 'nothing else reaches the engine meanwhile');
    six?.release();
    const two = ledger.claim('embed', [{ replicaId: 'r0', slotsTotal: 4 }], 2);
    assert.equal(ledger.claim('embed', [{ replicaId: 'r0', slotsTotal: 4 }], 3)?.slots, undefined, '2 + 3 > 4');
    assert.equal(ledger.claim('embed', [{ replicaId: 'r0', slotsTotal: 4 }], 2)?.slots, 2);
    assert.equal(ledger.inFlight('embed'), 4);
    two?.release();
    assert.equal(ledger.inFlight('embed'), 2);
  });

  test('counts one slot per input of an embeddings request and per document of a rerank, one for the rest', () => {
    const tasks = (endpoint: string, body: Record<string, unknown>) =>
      parallelTasks({ endpoint, body } as Parameters<typeof parallelTasks>[0]);
    assert.equal(tasks('/v1/embeddings', { input: 'one text' }), 1);
    assert.equal(tasks('/v1/embeddings', { input: ['a', 'b', 'c'] }), 3);
    assert.equal(tasks('/v1/embeddings', { input: [1, 2, 3] }), 1, 'one list of token ids is one input');
    assert.equal(tasks('/v1/embeddings', { input: [[1], [2]] }), 2);
    assert.equal(tasks('/v1/rerank', { query: 'q', documents: ['a', 'b', 'c', 'd'] }), 4);
    assert.equal(tasks('/v1/chat/completions', { messages: [] }), 1);
  });

  test('abortAll aborts the holders of one pool and leaves the slots theirs to release', () => {
    const ledger = new SlotLedger();
    const chat = ledger.claim('chat', [{ replicaId: 'r0', slotsTotal: 2 }]);
    const code = ledger.claim('code', [{ replicaId: 'r0', slotsTotal: 2 }]);
    assert.equal(ledger.abortAll('chat', new Error('pool drained')), 1);
    assert.equal(chat?.signal.aborted, true);
    assert.equal((chat?.signal.reason as Error).message, 'pool drained');
    assert.equal(code?.signal.aborted, false);
    assert.equal(ledger.inFlight('chat'), 1, 'aborted is not yet released');
    assert.equal(chat?.release(), true);
    assert.equal(ledger.inFlight('chat'), 0);
    chat?.abort(new Error('late'));
    assert.equal((chat?.signal.reason as Error).message, 'pool drained', 'a released guard ignores later aborts');
  });

  test('whenIdle resolves once the last slot of the pool is released, or false at its timeout', async () => {
    const ledger = new SlotLedger();
    assert.equal(await ledger.whenIdle('chat', 0), true, 'an idle pool is idle at once');
    const a = ledger.claim('chat', [{ replicaId: 'r0', slotsTotal: 2 }]);
    const b = ledger.claim('chat', [{ replicaId: 'r0', slotsTotal: 2 }]);
    assert.equal(await ledger.whenIdle('chat', 20), false);
    const idle = ledger.whenIdle('chat');
    let settled = false;
    void idle.then(() => (settled = true));
    a?.release();
    await Promise.resolve();
    assert.equal(settled, false, 'one slot is still held');
    b?.release();
    assert.equal(await idle, true);
  });
});
