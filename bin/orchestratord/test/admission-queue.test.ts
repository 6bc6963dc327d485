import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { AdmissionQueue, type AdmissionPolicy } from '../src/admission/admission-queue.ts';

type Op = { kind: 'enqueue'; priority: 'interactive' | 'batch' } | { kind: 'take' } | { kind: 'cancel'; pick: number };

const ops = fc.array(
  fc.oneof(
    fc.record({
      kind: fc.constant('enqueue' as const),
      priority: fc.constantFrom('interactive' as const, 'batch' as const),
    }),
    fc.record({ kind: fc.constant('take' as const) }),
    fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
  ),
  { maxLength: 200 },
);

/** Run ops and account for every task: it ends exactly once as rejected, evicted, canceled or taken. */
function run(capacity: number, policy: AdmissionPolicy, sequence: Op[]) {
  const queue = new AdmissionQueue<number>(capacity, policy);
  const endings = new Map<string, string>();
  const taken: { id: string; priority: string; seq: number }[] = [];
  let next = 0;
  for (const op of sequence) {
    if (op.kind === 'enqueue') {
      const id = `t${next}`;
      const outcome = queue.enqueue({ id, priority: op.priority, item: next });
      next += 1;
      if (outcome.kind === 'rejected') endings.set(id, 'rejected');
      else if (outcome.evicted) {
        assert.equal(endings.has(outcome.evicted.id), false);
        assert.equal(outcome.evicted.priority, 'batch', 'only batch work is evicted');
        endings.set(outcome.evicted.id, 'evicted');
      }
    } else if (op.kind === 'take') {
      const entry = queue.take(() => true);
      if (entry) {
        assert.equal(endings.has(entry.id), false);
        endings.set(entry.id, 'taken');
        taken.push({ id: entry.id, priority: entry.priority, seq: entry.item });
      }
    } else {
      const all = queue.entries();
      const victim = all[op.pick % Math.max(1, all.length)];
      if (victim && queue.remove(victim.id)) endings.set(victim.id, 'canceled');
    }
    assert.ok(queue.size <= capacity, 'never over capacity');
  }
  for (const entry of queue.entries()) {
    assert.equal(endings.has(entry.id), false);
    endings.set(entry.id, 'still queued');
  }
  return { endings, taken, total: next };
}

describe('the admission queue (property tests)', () => {
  test('is never over capacity and every admitted task ends exactly once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.constantFrom<AdmissionPolicy>('reject', 'drop-lru'),
        ops,
        (capacity, policy, sequence) => {
          const { endings, total } = run(capacity, policy, sequence);
          assert.equal(endings.size, total);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('hands out FIFO within a priority and interactive before batch', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom<AdmissionPolicy>('reject', 'drop-lru'),
        ops,
        (capacity, policy, sequence) => {
          const queue = new AdmissionQueue<number>(capacity, policy);
          let n = 0;
          const lastTaken: Record<string, number> = { interactive: -1, batch: -1 };
          for (const op of sequence) {
            if (op.kind === 'enqueue') queue.enqueue({ id: `t${n}`, priority: op.priority, item: n++ });
            else if (op.kind === 'take') {
              const hadInteractive = queue.depth('interactive') > 0;
              const entry = queue.take(() => true);
              if (entry === null) continue;
              if (hadInteractive) assert.equal(entry.priority, 'interactive');
              assert.ok(entry.item > (lastTaken[entry.priority] ?? -1), 'FIFO within the priority');
              lastTaken[entry.priority] = entry.item;
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('rejects when full under reject, and evicts the oldest batch task under drop-lru', () => {
    const reject = new AdmissionQueue<number>(2, 'reject');
    reject.enqueue({ id: 'a', priority: 'batch', item: 0 });
    reject.enqueue({ id: 'b', priority: 'batch', item: 1 });
    assert.deepEqual(reject.enqueue({ id: 'c', priority: 'interactive', item: 2 }), { kind: 'rejected' });
    const lru = new AdmissionQueue<number>(2, 'drop-lru');
    lru.enqueue({ id: 'a', priority: 'batch', item: 0 });
    lru.enqueue({ id: 'b', priority: 'batch', item: 1 });
    const outcome = lru.enqueue({ id: 'c', priority: 'interactive', item: 2 });
    assert.deepEqual(outcome, { kind: 'queued', position: 0, evicted: { id: 'a', priority: 'batch', item: 0 } });
    assert.deepEqual(
      lru.entries().map((e) => e.id),
      ['c', 'b'],
    );
    const full = new AdmissionQueue<number>(1, 'drop-lru');
    full.enqueue({ id: 'i', priority: 'interactive', item: 0 });
    assert.deepEqual(
      full.enqueue({ id: 'j', priority: 'batch', item: 1 }),
      { kind: 'rejected' },
      'interactive work is never evicted',
    );
  });

  test('counts the position among the tasks that start first', () => {
    const queue = new AdmissionQueue<number>(10, 'reject');
    queue.enqueue({ id: 'b1', priority: 'batch', item: 0 });
    queue.enqueue({ id: 'i1', priority: 'interactive', item: 1 });
    assert.equal(queue.position('b1'), 1);
    assert.equal(queue.position('i1'), 0);
    assert.equal(queue.position('zz'), null);
  });

  test('asks placement only for the head of each class, and takes the oldest runnable head', () => {
    const queue = new AdmissionQueue<number>(10_000, 'reject');
    for (let i = 0; i < 5_000; i += 1)
      queue.enqueue({ id: `big-${i}`, priority: 'batch', item: i, class: i % 2 === 0 ? 'big' : 'huge' });
    queue.enqueue({ id: 'small-0', priority: 'batch', item: -1, class: 'small' });
    const asked: string[] = [];
    const entry = queue.take((candidate) => {
      asked.push(candidate.id);
      return candidate.class === 'small';
    });
    assert.equal(entry?.id, 'small-0', 'a runnable class is not held up by another class that cannot run');
    assert.deepEqual(asked.sort(), ['big-0', 'big-1', 'small-0'], 'one question per class head');
    assert.equal(queue.take(() => true)?.id, 'big-0');
    assert.equal(queue.take(() => true)?.id, 'big-1');
    assert.equal(queue.size, 4_998);
  });

  test('refuses a task id that is already queued', () => {
    const queue = new AdmissionQueue<number>(10, 'reject');
    queue.enqueue({ id: 'a', priority: 'batch', item: 0 });
    assert.throws(() => queue.enqueue({ id: 'a', priority: 'interactive', item: 1 }), /already queued/);
  });
});
