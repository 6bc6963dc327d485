import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test, type TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../src/config.ts';
import { Budgets, parseBudgets, utcDay } from '../src/journal/budgets.ts';
import type { JournalStore, TaskRecord } from '../src/journal/records.ts';
import { requestHash } from '../src/journal/request-hash.ts';
import { SqliteStore } from '../src/journal/sqlite-store.ts';
import { TaskJournal } from '../src/journal/task-journal.ts';
import { Task, type TaskSpec } from '../src/tasks/task.ts';
import type { Identity } from '../src/http/auth/identity.ts';
import { writeFile } from 'node:fs/promises';

const log = pino({ level: 'silent' });
const alice: Identity = { owner: 'key:aaaa', role: 'client', label: 'key:a1a1a1' };

const spec = (id: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({
  id,
  owner: alice.owner,
  identity: alice.label,
  model: 'demo',
  priority: 'interactive',
  sessionId: undefined,
  deadlineMs: undefined,
  placement: undefined,
  engine: { endpoint: '/completion', body: { prompt: 'x', n_predict: 50, stream: true } },
  ...extra,
});

async function tempDb(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llorch-journal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'tasks.db');
}

async function openJournal(t: TestContext, path: string, replica = 'r1'): Promise<TaskJournal> {
  const journal = await TaskJournal.open({ store: new SqliteStore(path), replica, log, registry: new Registry() });
  t.after(() => journal.close());
  return journal;
}

/** A task that ran on a pool with `gpus` GPUs and ended with `tokensOut` of `tokensIn`. */
function runTask(task: Task, tokensIn: number, tokensOut: number, gpus = 0): void {
  task.placedOn = { node: 'http://node-a:9200', gpus };
  task.poolId = 'demo';
  task.emit({ event: 'started', data: { queue_position: 0, predicted_start_ms: 0, pool_id: 'demo' } });
  for (let i = 0; i < tokensOut; i += 1) task.emit({ event: 'token', data: { t: 'x', i } });
  task.emit({
    event: 'end',
    data: { tokens_out: tokensOut, tokens_in: tokensIn, decode_ms: 5, finish_reason: 'length' },
  });
}

describe('task journal (SQLite)', () => {
  test('migrates a new file, keeps an up-to-date one, and refuses a schema newer than this build', async (t) => {
    const path = await tempDb(t);
    const store = new SqliteStore(path);
    assert.equal(await store.migrate(), 1);
    assert.equal(await store.migrate(), 1, 'a second run changes nothing');
    await store.close();
    const db = new DatabaseSync(path);
    assert.deepEqual(
      db
        .prepare('SELECT version FROM journal_schema')
        .all()
        .map((r) => r['version']),
      [1],
    );
    db.prepare('INSERT INTO journal_schema (version) VALUES (7)').run();
    db.close();
    const newer = new SqliteStore(path);
    t.after(() => newer.close());
    await assert.rejects(newer.migrate(), /schema is version 7, newer than this orchestratord's 1/);
  });

  test('holds its file alone: a second orchestratord on it fails at start, naming the variable', async (t) => {
    const path = await tempDb(t);
    const first = new SqliteStore(path);
    t.after(() => first.close());
    await first.migrate();
    assert.throws(() => new SqliteStore(path), /^Error: ORCHD_DATABASE_URL: cannot hold .*another orchestratord/);
  });

  test("records a task's transitions and one ledger row, in batches, and answers from what waits", async (t) => {
    const path = await tempDb(t);
    const journal = await openJournal(t, path);
    const task = new Task(spec('t1', { requestHash: 'h1' }));
    journal.track(task);
    assert.equal((await journal.task('t1'))?.state, 'queued', 'a record waiting to be written is answered');
    task.poolId = 'demo';
    task.placedOn = { node: 'http://node-a:9200', gpus: 2 };
    task.emit({ event: 'started', data: { queue_position: 0, predicted_start_ms: 0, pool_id: 'demo' } });
    assert.equal((await journal.task('t1'))?.state, 'running');
    await new Promise((resolve) => setTimeout(resolve, 20));
    task.emit({ event: 'token', data: { t: 'x', i: 0 } });
    task.emit({ event: 'end', data: { tokens_out: 1, tokens_in: 9, decode_ms: 5, finish_reason: 'stop' } });
    await journal.flush();
    // The file is held in exclusive mode: read it through the journal's own store.
    const record = (await journal.store.task('t1')) as TaskRecord;
    assert.equal(record.state, 'ended');
    assert.equal(record.outcome, 'stop');
    assert.equal(record.tokens_in, 9);
    assert.equal(record.tokens_out, 1);
    assert.equal(record.pool_id, 'demo');
    assert.equal(record.node, 'http://node-a:9200');
    assert.equal(record.request_hash, 'h1');
    assert.equal(record.identity, alice.label);
    assert.ok(record.started_at !== null && record.ended_at !== null && record.ended_at >= record.started_at);
    const [usage] = await journal.usage({ since: 0, until: Date.now() + 1 });
    assert.deepEqual(
      { ...usage, engine_ms: undefined, gpu_ms: undefined },
      {
        identity: alice.label,
        owner: alice.owner,
        model: 'demo',
        tasks: 1,
        tokens_in: 9,
        tokens_out: 1,
        engine_ms: undefined,
        gpu_ms: undefined,
      },
    );
    assert.ok((usage?.engine_ms ?? 0) >= 20, 'engine time runs from started to the end');
    assert.equal(usage?.gpu_ms, (usage?.engine_ms ?? 0) * 2, 'GPU time is slot time × the pool’s GPUs');
  });

  test('a task that never reached an engine has a record and no ledger row', async (t) => {
    const journal = await openJournal(t, await tempDb(t));
    const task = new Task(spec('never'));
    journal.track(task);
    task.fail('ADMISSION_REJECT', 'queue full');
    assert.equal((await journal.task('never'))?.state, 'failed');
    assert.equal((await journal.task('never'))?.outcome, 'ADMISSION_REJECT');
    assert.deepEqual(await journal.usage({ since: 0, until: Date.now() + 1 }), []);
  });

  test('sums the ledger per identity and model, by window, owner and identity', async (t) => {
    const journal = await openJournal(t, await tempDb(t));
    const bob: Identity = { owner: 'oidc:bob', role: 'client', label: 'oidc:bob' };
    const runs: [Identity, string, number, number][] = [
      [alice, 'demo', 3, 10],
      [alice, 'demo', 4, 20],
      [alice, 'big', 5, 30],
      [bob, 'demo', 6, 40],
    ];
    for (const [i, [who, model, tokensIn, tokensOut]] of runs.entries()) {
      const task = new Task(spec(`u${i}`, { owner: who.owner, identity: who.label, model }));
      journal.track(task);
      runTask(task, tokensIn, tokensOut);
    }
    const all = await journal.usage({ since: 0, until: Date.now() + 1 });
    assert.deepEqual(
      all.map((s) => [s.identity, s.model, s.tasks, s.tokens_in, s.tokens_out]),
      [
        [alice.label, 'big', 1, 5, 30],
        [alice.label, 'demo', 2, 7, 30],
        [bob.label, 'demo', 1, 6, 40],
      ],
    );
    const bobs = await journal.usage({ since: 0, until: Date.now() + 1, owner: bob.owner });
    assert.deepEqual(
      bobs.map((s) => s.identity),
      [bob.label],
    );
    const named = await journal.usage({ since: 0, until: Date.now() + 1, identity: alice.label });
    assert.equal(named.length, 2);
    assert.deepEqual(await journal.usage({ since: Date.now() + 10_000, until: Date.now() + 20_000 }), []);
  });

  test("a crash's queued and running tasks end ORCHESTRATOR_RESTART at the next start, with their reservations given back; another replica's are left", async (t) => {
    const path = await tempDb(t);
    const store = new SqliteStore(path);
    await store.migrate();
    const { day, start, end } = utcDay(Date.now());
    await store.reserve({
      owner: alice.owner,
      day,
      dayStart: start,
      dayEnd: end,
      tokens: 150,
      tokenLimit: 1000,
      gpuMsLimit: null,
    });
    const base = {
      owner: alice.owner,
      identity: alice.label,
      request_hash: null,
      model: 'demo',
      priority: 'interactive',
      pool_id: null,
      node: null,
      tokens_in: null,
      outcome: null,
      message: null,
      admitted_at: Date.now(),
      started_at: null,
      ended_at: null,
    };
    await store.write({
      responses: [],
      settlements: [],
      usage: [],
      tasks: [
        { ...base, task_id: 'q', replica: 'r1', state: 'queued', tokens_out: 0, reserved_tokens: 100, budget_day: day },
        {
          ...base,
          task_id: 'r',
          replica: 'r1',
          state: 'running',
          tokens_out: 20,
          reserved_tokens: 50,
          budget_day: day,
        },
        {
          ...base,
          task_id: 'elsewhere',
          replica: 'r2',
          state: 'running',
          tokens_out: 0,
          reserved_tokens: 0,
          budget_day: null,
        },
      ],
    });
    await store.close();
    const journal = await openJournal(t, path, 'r1');
    for (const id of ['q', 'r']) {
      const record = await journal.task(id);
      assert.equal(record?.state, 'failed', id);
      assert.equal(record?.outcome, 'ORCHESTRATOR_RESTART', id);
      assert.ok(record?.ended_at !== null, id);
    }
    assert.equal((await journal.task('elsewhere'))?.state, 'running', 'another replica’s task is its own to end');
    assert.equal((await journal.store.budgetDay(alice.owner, day)).tokens, 20, 'only what was produced stays reserved');
  });

  test('a batch the store refuses is kept and written with the next one', async (t) => {
    const path = await tempDb(t);
    const real = new SqliteStore(path);
    let refuse = 1;
    const flaky: JournalStore = {
      kind: 'sqlite',
      migrate: () => real.migrate(),
      write: (batch) => (refuse-- > 0 ? Promise.reject(new Error('disk full')) : real.write(batch)),
      claim: (record) => real.claim(record),
      unclaim: (...args) => real.unclaim(...args),
      task: (id) => real.task(id),
      response: (id) => real.response(id),
      endOrphans: (...args) => real.endOrphans(...args),
      usage: (query) => real.usage(query),
      reserve: (request) => real.reserve(request),
      settle: (...args) => real.settle(...args),
      budgetDay: (...args) => real.budgetDay(...args),
      close: () => real.close(),
    };
    const journal = await TaskJournal.open({ store: flaky, replica: 'r1', log, registry: new Registry() });
    t.after(() => journal.close());
    const task = new Task(spec('kept'));
    journal.track(task);
    runTask(task, 2, 3);
    await journal.flush();
    assert.equal(await real.task('kept'), null, 'the first write failed');
    await journal.flush();
    assert.equal((await real.task('kept'))?.state, 'ended');
    assert.equal((await real.usage({ since: 0, until: Date.now() + 1 }))[0]?.tokens_out, 3);
  });
});

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

test('the request hash ignores key order and tells owners, routes and bodies apart', () => {
  const a = requestHash('key:a', '/v2/tasks', { prompt: 'x', max_tokens: 5, placement: { mode: 'auto', x: 1 } });
  assert.equal(a, requestHash('key:a', '/v2/tasks', { placement: { x: 1, mode: 'auto' }, max_tokens: 5, prompt: 'x' }));
  assert.notEqual(
    a,
    requestHash('key:b', '/v2/tasks', { prompt: 'x', max_tokens: 5, placement: { mode: 'auto', x: 1 } }),
  );
  assert.notEqual(a, requestHash('key:a', '/v1', { prompt: 'x', max_tokens: 5, placement: { mode: 'auto', x: 1 } }));
  assert.notEqual(
    a,
    requestHash('key:a', '/v2/tasks', { prompt: 'y', max_tokens: 5, placement: { mode: 'auto', x: 1 } }),
  );
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
