/**
 * The task journal, usage ledger and budgets in PostgreSQL with three orchestratord replicas sharing it (CLOUD):
 * a real PostgreSQL server from Debian's packages on loopback, real orchestratord processes, one real pool-managerd
 * with its llama-server. The budget holds across replicas under 200 concurrent requests; any replica answers for a
 * task another admitted; a killed replica ends only its own tasks when it comes back.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { AdmissionResponse, ErrorEnvelope, TaskStatus, UsageReport } from '@llama-orch/contracts';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import { query, startPostgres } from '../src/postgres.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents } from '../src/sse.ts';

interface ChatAnswer {
  usage: { prompt_tokens: number; completion_tokens: number };
}
/** /v1 errors come in OpenAI's shape. */
interface OpenAIError {
  error: { message: string; code: string };
}

const ADMIN = 'admin-key-0123456789abcdef';
const METERED = 'metered-key-0123456789abcdef';
const FREE = 'free-key-0123456789abcdef';
const label = (key: string): string => `key:${createHash('sha256').update(key).digest('hex').slice(0, 6)}`;
const as = (key: string) => ({ authorization: `Bearer ${key}` });
const chat = {
  model: 'demo',
  messages: [{ role: 'user', content: 'Say something.' }],
  max_tokens: 50,
  ignore_eos: true,
};

describe('task journal in PostgreSQL, three replicas', { timeout: 20 * 60_000 }, () => {
  test('the budget holds across replicas, any replica answers for any task, a killed replica ends only its own', async (t) => {
    const postgres = await startPostgres();
    t.after(() => postgres.stop());
    const dir = await mkdtemp(join(tmpdir(), 'llorch-pg-journal-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const budgets = join(dir, 'budgets.json');
    await writeFile(budgets, JSON.stringify({ identities: { [label(METERED)]: { tokens_per_day: 1000 } } }));
    const env = (replica: string): NodeJS.ProcessEnv => ({
      ORCHD_DATABASE_URL: postgres.url,
      ORCHD_BUDGETS_FILE: budgets,
      ORCHD_REPLICA_ID: replica,
      ORCHD_API_KEYS: `${FREE},${METERED},${ADMIN} admin`,
      ORCHD_ADMISSION_CAPACITY: '256',
    });
    const cluster = await startCluster([[{ id: 'demo', slots: 2, ctx: 131_072 }]], env('orch-0'));
    t.after(cluster.cleanup);
    const poolManagers = cluster.nodes.map((n) => n.url).join(',');
    const more: Orchestratord[] = [];
    t.after(() => Promise.all(more.map((o) => o.stop())));
    for (const replica of ['orch-1', 'orch-2'])
      more.push(await startOrchestratord({ ORCHD_POOL_MANAGERS: poolManagers, ...env(replica) }));
    const urls = [cluster.url, ...more.map((o) => o.url)];
    for (const url of urls)
      await waitFor(
        `the pool ready at ${url}`,
        async () => {
          const pools = await jsonRequest<{ pools: { ready: boolean }[] }>(`${url}/v2/pools`, { headers: as(FREE) });
          return pools.body.pools?.some((p) => p.ready) ? true : undefined;
        },
        60_000,
      );

    // 200 requests of 50 tokens at once, spread over the three replicas, against 1,000 tokens a day.
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        jsonRequest<ChatAnswer & OpenAIError>(`${urls[i % 3] ?? ''}/v1/chat/completions`, {
          method: 'POST',
          body: chat,
          headers: as(METERED),
        }),
      ),
    );
    const accepted = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(accepted.length + refused.length, 200, answers.map((a) => a.status).join(','));
    assert.equal(accepted.length, 20, 'exactly the budget: 20 × 50 tokens');
    for (const answer of refused) assert.equal(answer.body.error.code, 'budget_exceeded');
    const produced = accepted.reduce((sum, a) => sum + a.body.usage.completion_tokens, 0);
    assert.equal(produced, 1000);
    const prompts = accepted.reduce((sum, a) => sum + a.body.usage.prompt_tokens, 0);
    // Every replica reads the one ledger: the metered key sees its own usage from any of them (each replica writes
    // its batch within 50 ms of a task's end).
    const expected = [[label(METERED), 20, prompts, produced]];
    for (const url of urls) {
      const usage = await waitFor(
        `the whole ledger at ${url}`,
        async () => {
          const answer = await jsonRequest<UsageReport>(`${url}/v2/usage`, { headers: as(METERED) });
          assert.equal(answer.status, 200);
          const totals = answer.body.totals.map((u) => [u.identity, u.tasks, u.tokens_in, u.tokens_out]);
          return JSON.stringify(totals) === JSON.stringify(expected) ? answer.body : undefined;
        },
        5_000,
      );
      assert.equal(usage.budgets[0]?.tokens, 1000, 'the budget’s day holds what was produced');
    }
    const forbidden = await jsonRequest<ErrorEnvelope>(`${urls[1] ?? ''}/v2/usage?identity=${label(FREE)}`, {
      headers: as(METERED),
    });
    assert.equal(forbidden.status, 403, 'a client sees only its own usage');

    // A task admitted by one replica is known to the others.
    const task = { task_id: 'shared', model_ref: 'demo', prompt: 'Count:', max_tokens: 6, ignore_eos: true };
    const admitted = await jsonRequest<AdmissionResponse>(`${urls[0] ?? ''}/v2/tasks`, {
      method: 'POST',
      body: task,
      headers: as(FREE),
    });
    assert.equal(admitted.status, 202);
    const followed = await followEvents(`${urls[0] ?? ''}/v2/tasks/shared/events`, {
      headers: as(FREE),
      timeoutMs: 30_000,
    });
    assert.equal(followed.events.at(-1)?.event, 'end');
    await waitFor(
      'replica 1 to read the ended task',
      async () => {
        const status = await jsonRequest<TaskStatus>(`${urls[1] ?? ''}/v2/tasks/shared`, { headers: as(FREE) });
        return status.status === 200 && status.body.state === 'ended' ? status.body : undefined;
      },
      5_000,
    );
    assert.equal(
      (await jsonRequest(`${urls[1] ?? ''}/v2/tasks/shared`, { headers: as(METERED) })).status,
      404,
      'another client learns nothing of it',
    );
    const same = await jsonRequest<TaskStatus>(`${urls[2] ?? ''}/v2/tasks`, {
      method: 'POST',
      body: task,
      headers: as(FREE),
    });
    assert.equal(same.status, 200, 'the same request at another replica answers the finished task');
    assert.equal(same.body.tokens_out, 6);
    const clash = await jsonRequest<ErrorEnvelope>(`${urls[2] ?? ''}/v2/tasks`, {
      method: 'POST',
      body: { ...task, max_tokens: 7 },
      headers: as(FREE),
    });
    assert.equal(clash.status, 409);

    // The same task_id at two replicas at once: one claims it and runs it, the other answers as that task.
    const race = { task_id: 'race', model_ref: 'demo', prompt: 'Count:', max_tokens: 5, ignore_eos: true };
    const raced = await Promise.all(
      [urls[1] ?? '', urls[2] ?? ''].map((url) =>
        jsonRequest<AdmissionResponse & ErrorEnvelope>(`${url}/v2/tasks`, {
          method: 'POST',
          body: race,
          headers: as(FREE),
        }),
      ),
    );
    assert.deepEqual(
      raced.map((a) => a.status).sort(),
      [200, 202],
      `one replica runs it: ${JSON.stringify(raced.map((a) => a.body))}`,
    );
    // An Idempotency-Key answered at one replica is replayed by another, not run again.
    const keyed = (url: string) =>
      jsonRequest<ChatAnswer>(`${url}/v1/chat/completions`, {
        method: 'POST',
        body: { ...chat, max_tokens: 4 },
        headers: { ...as(FREE), 'idempotency-key': 'pg-key-1' },
      });
    const original = await keyed(urls[0] ?? '');
    assert.equal(original.status, 200);
    const elsewhere = await waitFor(
      'the answer kept for the key at replica 2',
      async () => {
        const answer = await keyed(urls[2] ?? '');
        return answer.headers['idempotent-replayed'] === 'true' ? answer : undefined;
      },
      5_000,
    );
    assert.deepEqual(elsewhere.body, original.body);
    const freeUsage = await waitFor(
      'the free key’s ledger',
      async () => {
        const usage = await jsonRequest<UsageReport>(`${urls[0] ?? ''}/v2/usage`, { headers: as(FREE) });
        const tasks = usage.body.totals[0]?.tasks ?? 0;
        return tasks >= 3 ? tasks : undefined;
      },
      10_000,
    );
    assert.equal(freeUsage, 3, 'shared, race and the keyed request each ran once');

    // Replica 1 dies with a task running; replica 0's task goes on and is not its to end.
    const endless = (id: string) => ({
      task_id: id,
      model_ref: 'demo',
      prompt: 'Go on:',
      max_tokens: 1_000_000,
      ignore_eos: true,
    });
    for (const [url, id] of [
      [urls[0] ?? '', 'on-0'],
      [urls[1] ?? '', 'on-1'],
    ] as const) {
      assert.equal(
        (await jsonRequest(`${url}/v2/tasks`, { method: 'POST', body: endless(id), headers: as(FREE) })).status,
        202,
      );
      await waitFor(
        `${id} running`,
        async () => {
          const status = await jsonRequest<TaskStatus>(`${url}/v2/tasks/${id}`, { headers: as(FREE) });
          return status.body.state === 'running' ? true : undefined;
        },
        30_000,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // the journal's batch holds `running`
    const dying = more[0];
    assert.ok(dying !== undefined);
    dying.proc.child.kill('SIGKILL');
    await dying.proc.exited;
    const back = await startOrchestratord({ ORCHD_POOL_MANAGERS: poolManagers, ...env('orch-1') });
    more[0] = back;
    assert.match(back.proc.output(), /"orphans_ended":1/);
    const ended = await jsonRequest<TaskStatus>(`${back.url}/v2/tasks/on-1`, { headers: as(FREE) });
    assert.equal(ended.body.state, 'failed');
    assert.equal(ended.body.outcome, 'ORCHESTRATOR_RESTART');
    const live = await jsonRequest<TaskStatus>(`${urls[0] ?? ''}/v2/tasks/on-0`, { headers: as(FREE) });
    assert.equal(live.body.state, 'running', 'replica 0’s task is untouched');
    assert.equal(
      (await jsonRequest(`${urls[0] ?? ''}/v2/tasks/on-0/cancel`, { method: 'POST', headers: as(FREE) })).status,
      204,
    );
  });

  test('a version 1 journal is migrated to 2; a replica that opens it deletes the answers kept past replay', async (t) => {
    const postgres = await startPostgres();
    t.after(() => postgres.stop());
    const env = { ORCHD_DATABASE_URL: postgres.url, ORCHD_POOL_MANAGERS: 'http://127.0.0.1:9' };
    const first = await startOrchestratord(env);
    await first.stop();
    assert.deepEqual(await query(postgres, 'SELECT version FROM journal_schema ORDER BY version'), ['1', '2']);
    // Back to how version 1 left it, with two kept answers: one past replay, one still replayable.
    await query(postgres, 'DROP INDEX responses_at; DELETE FROM journal_schema WHERE version = 2');
    const now = Date.now();
    await query(
      postgres,
      `INSERT INTO responses (task_id, content_type, body, at) VALUES
         ('day-old', 'application/json', '{}', ${now - 25 * 3_600_000}),
         ('hour-old', 'application/json', '{}', ${now - 3_600_000})`,
    );
    const second = await startOrchestratord(env);
    t.after(() => second.stop());
    await waitFor('the journal open', () => (/"task journal open"/.test(second.proc.output()) ? true : undefined));
    assert.deepEqual(await query(postgres, 'SELECT version FROM journal_schema ORDER BY version'), ['1', '2']);
    assert.deepEqual(await query(postgres, "SELECT indexname FROM pg_indexes WHERE indexname = 'responses_at'"), [
      'responses_at',
    ]);
    await waitFor('the old answer deleted', () =>
      /"deleted":1,.*"kept answers past replay deleted"/.test(second.proc.output()) ? true : undefined,
    );
    assert.deepEqual(await query(postgres, 'SELECT task_id FROM responses'), ['hour-old']);
  });
});
