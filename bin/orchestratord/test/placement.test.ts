import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { PoolStatus } from '@llama-orch/contracts';
import { place, type PoolView } from '../src/placement/place.ts';
import { poolView } from './pool-view-fixture.ts';

function view(poolId: string, over: Partial<PoolStatus> = {}, leases = 0, available = true, othersBusy = 0): PoolView {
  return poolView(poolId, over, { leases, available, othersBusy });
}
const chosen = (p: ReturnType<typeof place>): string => (p.kind === 'assigned' ? p.pool.status.pool_id : p.kind);

describe('placement', () => {
  test('spreads by load, then most free VRAM, then pool id', () => {
    assert.equal(chosen(place([view('b'), view('a')], { model: 'demo' })), 'a');
    assert.equal(chosen(place([view('a', {}, 1), view('b')], { model: 'demo' })), 'b');
    assert.equal(
      chosen(place([view('a', { vram_free_bytes: 1 }), view('b', { vram_free_bytes: 9 })], { model: 'demo' })),
      'b',
    );
  });

  test('keeps a session on its pool while it has a free slot', () => {
    assert.equal(chosen(place([view('a'), view('b', {}, 1)], { model: 'demo', affinity: 'b' })), 'b');
    assert.equal(chosen(place([view('a'), view('b', {}, 2)], { model: 'demo', affinity: 'b' })), 'a');
  });

  test("waits for its session's busy pool while its next free slot comes sooner than the prefill elsewhere, and no longer (issue 19)", () => {
    const pools = [view('a'), view('b', {}, 2)];
    const warm = (tokens: number, freeInMs: number, waitedMs = 0) => ({
      tokens,
      prefillMs: () => 0.5,
      slotFreeInMs: (pool: string) => (pool === 'b' ? freeInMs : 0),
      waitedMs,
    });
    // 2,000 cached tokens at 0.5 ms each: 1 s of prefill on a; b frees a slot in 200 ms: wait for b.
    const waits = place(pools, { model: 'demo', affinity: 'b', warm: warm(2_000, 200) });
    assert.equal(waits.kind, 'wait');
    assert.match(waits.kind === 'wait' ? waits.reason : '', /^session affinity: pool b holds its 2000 tokens/);
    // b frees a slot in 2 s: go cold on a; a short history is not worth waiting for either.
    assert.equal(chosen(place(pools, { model: 'demo', affinity: 'b', warm: warm(2_000, 2_000) })), 'a');
    assert.equal(chosen(place(pools, { model: 'demo', affinity: 'b', warm: warm(100, 200) })), 'a');
    // It has waited 900 ms already: 900 + 200 > 1,000 ms of prefill, so it stops waiting.
    assert.equal(chosen(place(pools, { model: 'demo', affinity: 'b', warm: warm(2_000, 200, 900) })), 'a');
    // b has a free slot: it goes there, without weighing.
    assert.equal(
      chosen(place([view('a'), view('b', {}, 1)], { model: 'demo', affinity: 'b', warm: warm(2_000, 0) })),
      'b',
    );
  });

  test('honours pin, prefer with and without fallback, avoid and exclusions', () => {
    const pools = [view('a'), view('b')];
    assert.equal(
      chosen(place(pools, { model: 'demo', placement: { mode: 'pin', pin_pool_id: 'b', allow_fallback: true } })),
      'b',
    );
    assert.equal(
      chosen(
        place([view('a'), view('b', {}, 2)], {
          model: 'demo',
          placement: { mode: 'pin', pin_pool_id: 'b', allow_fallback: true },
        }),
      ),
      'wait',
    );
    assert.equal(
      chosen(place(pools, { model: 'demo', placement: { mode: 'auto', avoid_pools: ['a'], allow_fallback: true } })),
      'b',
    );
    const fullB = [view('a'), view('b', {}, 2)];
    assert.equal(
      chosen(place(fullB, { model: 'demo', placement: { mode: 'prefer', prefer_pools: ['b'], allow_fallback: true } })),
      'a',
      'a preferred pool with no free slot falls back',
    );
    assert.equal(
      chosen(
        place(fullB, { model: 'demo', placement: { mode: 'prefer', prefer_pools: ['b'], allow_fallback: false } }),
      ),
      'wait',
      'without fallback the task waits for its preferred pool',
    );
    const busyB = [view('a'), view('b', { ready: false, state: 'offline' })];
    assert.equal(
      chosen(place(busyB, { model: 'demo', placement: { mode: 'prefer', prefer_pools: ['b'], allow_fallback: true } })),
      'a',
    );
    assert.equal(
      chosen(
        place(busyB, { model: 'demo', placement: { mode: 'prefer', prefer_pools: ['b'], allow_fallback: false } }),
      ),
      'unavailable',
    );
    assert.equal(chosen(place(pools, { model: 'demo', exclude: new Set(['a']) })), 'b');
  });

  test('refuses a pin to an unknown pool and a model no pool serves', () => {
    assert.deepEqual(
      place([view('a')], { model: 'demo', placement: { mode: 'pin', pin_pool_id: 'zz', allow_fallback: true } }),
      {
        kind: 'impossible',
        code: 'INVALID_PARAMS',
        message: 'placement.pin_pool_id: no pool zz',
      },
    );
    assert.equal(place([view('a')], { model: 'llama-70b' }).kind, 'impossible');
    assert.equal(
      chosen(place([view('a', { model: 'file:/m/q.gguf' })], { model: 'a' })),
      'a',
      'a pool id names its model too',
    );
  });

  test('waits for a slot on a full pool, and for a start on a starting or draining one', () => {
    for (const pool of [view('a', {}, 0, true, 2), view('a', {}, 2)]) {
      assert.deepEqual(place([pool], { model: 'demo' }), {
        kind: 'wait',
        until: 'slot',
        reason: 'every feasible pool is busy',
      });
    }
    for (const pool of [
      view('a', { draining: true, state: 'draining' }),
      view('a', { ready: false, state: 'starting' }),
      view('a', { ready: false, state: 'provisioning' }),
    ]) {
      const placement = place([pool], { model: 'demo' });
      assert.equal(placement.kind === 'wait' ? placement.until : placement.kind, 'start');
    }
    assert.equal(
      chosen(place([view('a', {}, 2), view('b', { ready: false, state: 'starting' })], { model: 'demo' })),
      'wait',
    );
  });

  test('says at once, naming each pool, when nothing serving the model is up or coming', () => {
    assert.deepEqual(
      place(
        [
          view('a', { ready: false, state: 'offline' }),
          view('b', { ready: false, state: 'failed', last_error: 'model file missing' }),
          view('c', {}, 0, false),
        ],
        { model: 'demo' },
      ),
      {
        kind: 'unavailable',
        reason: 'pool a is offline; pool b is failed (model file missing); pool c: its pool-managerd does not answer',
      },
    );
  });

  test('places determinism strict only on pools that report deterministic, and says so when none does', () => {
    const pools = [view('a', { deterministic: false }), view('b', { deterministic: true }, 1)];
    assert.equal(chosen(place(pools, { model: 'demo', determinism: 'strict' })), 'b');
    assert.equal(chosen(place(pools, { model: 'demo', determinism: 'best_effort' })), 'a');
    const none = place([view('a', { deterministic: false }), view('c')], { model: 'demo', determinism: 'strict' });
    assert.equal(none.kind, 'impossible');
    assert.match(
      none.kind === 'impossible' ? none.message : '',
      /^determinism: no pool serving demo .*\ba, c\b.*best_effort/,
    );
  });

  test('is deterministic and only ever assigns a feasible pool (property)', () => {
    const arbPool = fc.record({
      id: fc.constantFrom('a', 'b', 'c', 'd'),
      leases: fc.nat({ max: 3 }),
      free: fc.nat({ max: 3 }),
      ready: fc.boolean(),
      draining: fc.boolean(),
      available: fc.boolean(),
      vram: fc.nat({ max: 100 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(arbPool, { selector: (p) => p.id, maxLength: 4 }), (specs) => {
        const pools = specs.map((s) =>
          view(
            s.id,
            {
              ready: s.ready,
              state: s.ready ? 'ready' : 'offline',
              draining: s.draining,
              vram_free_bytes: s.vram,
            },
            s.leases,
            s.available,
            Math.min(2, s.free),
          ),
        );
        const first = place(pools, { model: 'demo' });
        assert.deepEqual(place([...pools].reverse(), { model: 'demo' }), first);
        if (first.kind === 'assigned') {
          const p = first.pool;
          assert.ok(
            p.available && p.status.ready && !p.status.draining && p.leases + p.othersBusy < p.status.slots_total,
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
