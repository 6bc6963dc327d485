import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { Budgets, parseBudgets, utcDay } from '../src/journal/budgets.ts';
import { SqliteStore } from '../src/journal/sqlite-store.ts';
import { Task } from '../src/tasks/task.ts';
import { alice, log, runTask, spec, tempDb } from './journal-fixture.ts';

describe('budgets', () => {
  async function budgets(
    t: TestContext,
    rules: unknown,
  ): Promise<{ budgets: Budgets; store: SqliteStore; file: string }> {
    const path = await tempDb(t);
    const store = new SqliteStore(path);
    await store.migrate();
    t.after(() => store.close());
    const file = join(path, '..', 'budgets.json');
    await writeFile(file, JSON.stringify(rules));
    const b = new Budgets({ path: file, store, log });
    await b.start();
    t.after(() => b.stop());
    return { budgets: b, store, file };
  }

  test('200 concurrent reservations of 50 against 1,000 tokens: exactly 20 pass, and the rest are told when it resets', async (t) => {
    const { budgets: b } = await budgets(t, { identities: { [alice.label]: { tokens_per_day: 1000 } } });
    const now = Date.UTC(2026, 10, 23, 18, 0, 0);
    const answers = await Promise.all(Array.from({ length: 200 }, () => b.reserve(alice, 50, now)));
    assert.equal(answers.filter((a) => a.ok).length, 20);
    const refused = answers.find((a) => !a.ok);
    assert.ok(refused !== undefined && !refused.ok);
    assert.equal(refused.envelope.code, 'BUDGET_EXCEEDED');
    assert.match(refused.envelope.message, /daily token budget of key:a1a1a1 \(1000 of 1000 used or reserved\)/);
    assert.match(refused.envelope.message, /resets at 2026-11-24T00:00:00.000Z/);
    assert.equal(refused.envelope.retry_after_ms, 6 * 3_600_000);
  });

  test('a reservation is settled to what the task produced, and given back whole when admission refuses it', async (t) => {
    const { budgets: b, store } = await budgets(t, { default: { tokens_per_day: 100 } });
    const { day } = utcDay(Date.now());
    const first = await b.reserve(alice, 60);
    assert.ok(first.ok);
    assert.equal((await b.reserve(alice, 60)).ok, false, '60 + 60 > 100');
    const task = new Task(
      spec('s1', first.reservation.budget === undefined ? {} : { budget: first.reservation.budget }),
    );
    runTask(task, 1, 10);
    first.reservation.settle(task);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await store.budgetDay(alice.owner, day)).tokens, 10);
    const second = await b.reserve(alice, 90);
    assert.ok(second.ok, '10 + 90 fits');
    second.reservation.release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await store.budgetDay(alice.owner, day)).tokens, 10);
    const standing = await b.standing(alice.label, alice.owner);
    assert.equal(standing?.tokens, 10);
    assert.equal(standing?.tokens_per_day, 100);
  });

  test('GPU-seconds: a task is refused once the day’s are used up', async (t) => {
    const { budgets: b } = await budgets(t, { identities: { [alice.label]: { gpu_seconds_per_day: 0.01 } } });
    const first = await b.reserve(alice, 10);
    assert.ok(first.ok);
    const task = new Task(spec('g1'));
    runTask(task, 1, 1, 4);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // started a moment ago on 4 GPUs: at least 4 × a few ms
    task.startedAt = Date.now() - 50;
    first.reservation.settle(task);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const refused = await b.reserve(alice, 10);
    assert.ok(!refused.ok);
    assert.match(refused.envelope.message, /daily GPU-seconds budget of key:a1a1a1 is used up/);
  });

  test('identities without a budget reserve nothing; the file is re-read when it changes', async (t) => {
    const { budgets: b, file, store } = await budgets(t, { identities: {} });
    const free = await b.reserve(alice, 1_000_000);
    assert.ok(free.ok);
    assert.equal(free.reservation.budget, undefined);
    assert.equal((await store.budgetDay(alice.owner, utcDay(Date.now()).day)).tokens, 0);
    await writeFile(file, JSON.stringify({ identities: { [alice.label]: { tokens_per_day: 5 } } }));
    const deadline = Date.now() + 5_000;
    while (b.limitsOf(alice.label) === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(b.limitsOf(alice.label)?.tokens_per_day, 5);
    assert.equal((await b.reserve(alice, 6)).ok, false);
  });

  test('a budgets file that does not parse is refused naming the field', () => {
    const bad = parseBudgets(JSON.stringify({ identities: { 'key:x': { tokens_per_day: -1 } } }));
    assert.ok(!bad.ok);
    assert.match(bad.message, /^identities\.key:x\.tokens_per_day: /);
    const unknown = parseBudgets(JSON.stringify({ identities: {}, tokens: 5 }));
    assert.ok(!unknown.ok);
    assert.match(unknown.message, /tokens/);
    assert.match((parseBudgets('{') as { message: string }).message, /^is not JSON/);
  });
});

test('the journal and budget variables: a bad value names its variable; budgets need a journal; a bad budgets file stops the start', async (t) => {
  const bad = parseConfig({ ORCHD_DATABASE_URL: 'mysql://db/llorch' });
  assert.ok(!bad.ok);
  assert.match(bad.message, /^ORCHD_DATABASE_URL: must be sqlite:<file> .* or postgres:\/\//);
  const alone = parseConfig({ ORCHD_BUDGETS_FILE: '/etc/llama-orch/budgets.json' });
  assert.ok(!alone.ok);
  assert.match(alone.message, /^ORCHD_BUDGETS_FILE needs ORCHD_DATABASE_URL/);
  const sqlite = parseConfig({ ORCHD_DATABASE_URL: 'sqlite:state/tasks.db', ORCHD_REPLICA_ID: 'orch-0' });
  assert.ok(sqlite.ok);
  assert.deepEqual(sqlite.config.database, { kind: 'sqlite', path: join(process.cwd(), 'state/tasks.db') });
  assert.equal(sqlite.config.replicaId, 'orch-0');
  const replica = parseConfig({ ORCHD_REPLICA_ID: '../etc' });
  assert.ok(!replica.ok);
  assert.match(replica.message, /^ORCHD_REPLICA_ID: /);
  const dir = await mkdtemp(join(tmpdir(), 'llorch-budgets-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'budgets.json');
  await writeFile(file, JSON.stringify({ identities: { 'key:x': { tokens_per_day: 'many' } } }));
  const budgets = new Budgets({ path: file, store: null, log });
  await assert.rejects(
    budgets.start(),
    /^Error: ORCHD_BUDGETS_FILE: .*budgets\.json identities\.key:x\.tokens_per_day: /,
  );
});
