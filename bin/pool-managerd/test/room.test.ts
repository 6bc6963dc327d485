import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planRoom, sharesMemory, type ResidentPool } from '../src/residency/room.ts';

const MiB = 1024 * 1024;
const cpu = { device: 'cpu' as const, gpus: [], capacity: 100 * MiB };
const pool = (poolId: string, estimateMiB: number, extra: Partial<ResidentPool> = {}): ResidentPool => ({
  poolId,
  onDemand: true,
  resident: true,
  idle: true,
  busy: false,
  lastActive: 0,
  estimate: estimateMiB * MiB,
  device: 'cpu',
  gpus: [],
  ...extra,
});

describe('making room for a pool loaded on demand (issue 18)', () => {
  test('fits beside what is resident while the budget allows; unloaded pools hold nothing', () => {
    assert.deepEqual(planRoom(40 * MiB, cpu, [pool('a', 50), pool('b', 30, { resident: false })]), { kind: 'fits' });
  });

  test('unloads idle pools least recently used first, only as many as it needs', () => {
    const others = [
      pool('old', 30, { lastActive: 1 }),
      pool('older', 30, { lastActive: 0 }),
      pool('new', 30, { lastActive: 9 }),
    ];
    assert.deepEqual(planRoom(30 * MiB, cpu, others), { kind: 'evict', victims: ['older'] });
    assert.deepEqual(planRoom(60 * MiB, cpu, others), { kind: 'evict', victims: ['older', 'old'] });
  });

  test('never unloads a pool loaded always, nor one with work: it waits, naming them, with the busy ones as swap victims', () => {
    const plan = planRoom(60 * MiB, cpu, [
      pool('pinned', 20, { onDemand: false }),
      pool('busy', 50, { idle: false, busy: true, lastActive: 5 }),
    ]);
    assert.equal(plan.kind, 'wait');
    assert.match(plan.kind === 'wait' ? plan.reason : '', /busy/);
    assert.deepEqual(plan.kind === 'wait' ? plan.victims : [], ['busy']);
  });

  test('refuses for good what would not fit even with every pool loaded on demand unloaded', () => {
    const plan = planRoom(90 * MiB, cpu, [pool('pinned', 20, { onDemand: false }), pool('idle', 10)]);
    assert.equal(plan.kind, 'never');
    assert.match(
      plan.kind === 'never' ? plan.reason : '',
      /90 MiB beside 20 MiB held by pools loaded always, more than the 100 MiB of memory_budget_bytes/,
    );
  });

  test('counts only pools drawing on the same memory: CPU with CPU, CUDA pools sharing a GPU', () => {
    const gpu0 = { device: 'cuda' as const, gpus: [0], capacity: 100 * MiB };
    assert.equal(sharesMemory({ device: 'cuda', gpus: [1] }, gpu0), false);
    assert.equal(sharesMemory({ device: 'cuda', gpus: [0, 1] }, gpu0), true);
    assert.equal(sharesMemory({ device: 'cuda', gpus: [] }, gpu0), true, 'every GPU');
    assert.equal(sharesMemory({ device: 'cpu', gpus: [] }, gpu0), false);
    const onGpu1 = pool('gpu1', 90, { device: 'cuda', gpus: [1] });
    assert.deepEqual(planRoom(90 * MiB, gpu0, [onGpu1, pool('cpu', 90)]), { kind: 'fits' });
  });
});
