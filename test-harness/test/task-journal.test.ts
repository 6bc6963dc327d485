/**
 * The task journal and usage ledger on real processes (SQLite, HOME): a task_id submitted again is the same task,
 * an orchestratord killed with tasks queued and running ends them ORCHESTRATOR_RESTART at its next start, the
 * ledger sums to the engine's own counts, and a daily budget holds under 200 concurrent requests.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { AdmissionResponse, ErrorEnvelope, TaskStatus, UsageReport } from '@llama-orch/contracts';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents } from '../src/sse.ts';

interface ChatAnswer {
  usage: { prompt_tokens: number; completion_tokens: number };
}
/** /v1 errors come in OpenAI's shape. */
interface OpenAIError {
  error: { message: string; code: string };
}

const submit = (url: string, body: Record<string, unknown>) =>
  jsonRequest<AdmissionResponse & ErrorEnvelope & TaskStatus>(`${url}/v2/tasks`, { method: 'POST', body });
const endless = { task_id: 'run', model_ref: 'demo', prompt: 'Go on:', max_tokens: 1_000_000, ignore_eos: true };
const short = { task_id: 'wait', model_ref: 'demo', prompt: 'Count:', max_tokens: 4, ignore_eos: true };
const chat = (max: number) => ({
  model: 'demo',
  messages: [{ role: 'user', content: 'Say something.' }],
  max_tokens: max,
  ignore_eos: true,
});

async function poolReady(url: string): Promise<void> {
  await waitFor(
    'the pool ready in the new orchestratord',
    async () => {
      const answer = await jsonRequest<{ pools: { ready: boolean }[] }>(`${url}/v2/pools`);
      return answer.body.pools.some((p) => p.ready) ? true : undefined;
    },
    60_000,
  );
}

describe('task journal on real processes', { timeout: 20 * 60_000 }, () => {
  test('the same task_id is the same task; a killed orchestratord’s tasks end ORCHESTRATOR_RESTART at its next start; the ledger sums to the engine’s counts', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-journal-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const database = { ORCHD_DATABASE_URL: `sqlite:${join(dir, 'tasks.db')}` };
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 131_072 }]], database);
    t.after(cluster.cleanup);
    let url = cluster.url;

    assert.equal((await submit(url, endless)).status, 202);
    const queued = await submit(url, short);
    assert.equal(queued.status, 202);
    assert.equal(queued.body.queue_position, 0);
    const again = await submit(url, endless);
    assert.equal(again.status, 202, 'the same request again answers as the live task');
    assert.deepEqual(again.body.streams, { sse: '/v2/tasks/run/events' });
    const other = await submit(url, { ...endless, prompt: 'Something else:' });
    assert.equal(other.status, 409);
    assert.equal(other.body.code, 'CONFLICT');
    assert.match(other.body.message, /task_id run belongs to another request/);
    await waitFor(
      'task run streaming',
      async () => ((await jsonRequest<TaskStatus>(`${url}/v2/tasks/run`)).body.tokens_out > 0 ? true : undefined),
      30_000,
    );
    // Give the journal's 50 ms batch time to hold `running`, then kill without a chance to end anything.
    await new Promise((resolve) => setTimeout(resolve, 300));
    cluster.orchestrator.proc.child.kill('SIGKILL');
    await cluster.orchestrator.proc.exited;

    const restarted: Orchestratord = await startOrchestratord({
      ORCHD_POOL_MANAGERS: cluster.nodes.map((n) => n.url).join(','),
      ...database,
    });
    t.after(() => restarted.stop());
    url = restarted.url;
    assert.match(restarted.proc.output(), /"orphans_ended":2/);
    for (const id of ['run', 'wait']) {
      const status = await jsonRequest<TaskStatus>(`${url}/v2/tasks/${id}`);
      assert.equal(status.status, 200, id);
      assert.equal(status.body.state, 'failed', id);
      assert.equal(status.body.outcome, 'ORCHESTRATOR_RESTART', id);
    }
    assert.equal((await jsonRequest(`${url}/v2/tasks/never-was`)).status, 404);

    await poolReady(url);
    const since = Date.now();
    // Told to submit it again, the client does: the same task_id runs anew.
    const rerun = await submit(url, short);
    assert.equal(rerun.status, 202, JSON.stringify(rerun.body));
    const followed = await followEvents(`${url}/v2/tasks/wait/events`, { timeoutMs: 30_000 });
    assert.equal(followed.events.at(-1)?.event, 'end');
    const tokensIn = Number(followed.events.at(-1)?.data['tokens_in']);
    assert.ok(tokensIn > 0);
    const finished = await submit(url, short);
    assert.equal(finished.status, 200, 'a finished task answers its status');
    assert.equal(finished.body.state, 'ended');
    assert.equal(finished.body.tokens_out, 4);
    assert.equal(finished.body.tokens_in, tokensIn);

    const engine = { tasks: 1, tokens_in: tokensIn, tokens_out: 4 };
    for (const max of [3, 5, 7]) {
      const answer = await jsonRequest<ChatAnswer>(`${url}/v1/chat/completions`, { method: 'POST', body: chat(max) });
      assert.equal(answer.status, 200);
      engine.tasks += 1;
      engine.tokens_in += answer.body.usage.prompt_tokens;
      engine.tokens_out += answer.body.usage.completion_tokens;
    }
    assert.equal(engine.tokens_out, 4 + 3 + 5 + 7);
    const usage = await jsonRequest<UsageReport>(`${url}/v2/usage?since=${since}`);
    assert.equal(usage.status, 200);
    assert.equal(usage.body.totals.length, 1, JSON.stringify(usage.body));
    const [total] = usage.body.totals;
    assert.deepEqual(
      { tasks: total?.tasks, tokens_in: total?.tokens_in, tokens_out: total?.tokens_out },
      engine,
      'the ledger sums to the engine’s own counts',
    );
    assert.equal(total?.identity, 'anonymous');
    assert.equal(total?.model, 'demo');
    assert.ok((total?.engine_ms ?? 0) > 0);
    assert.equal(total?.gpu_seconds, 0, 'a CPU pool has no GPU time');
    // An Idempotency-Key makes a /v1 retry get the first answer instead of a second run.
    const keyed = (key: string, body: Record<string, unknown>) =>
      jsonRequest<ChatAnswer & OpenAIError & { choices: unknown[] }>(`${url}/v1/chat/completions`, {
        method: 'POST',
        body,
        headers: { 'idempotency-key': key },
      });
    const first = await keyed('order-7', chat(6));
    assert.equal(first.status, 200);
    const retry = await keyed('order-7', chat(6));
    assert.equal(retry.status, 200);
    assert.equal(retry.headers['idempotent-replayed'], 'true');
    assert.deepEqual(retry.body, first.body, 'the retry gets the first answer');
    const reused = await keyed('order-7', chat(9));
    assert.equal(reused.status, 409);
    assert.equal(reused.body.error.code, 'conflict');
    assert.match(reused.body.error.message, /Idempotency-Key was used for another request/);
    assert.equal((await keyed('bad key', chat(6))).status, 400);
    const streamed = async (): Promise<{ text: string; replayed: string | null }> => {
      const answer = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'stream-1' },
        body: JSON.stringify({ ...chat(5), stream: true }),
        signal: AbortSignal.timeout(30_000),
      });
      return { text: await answer.text(), replayed: answer.headers.get('idempotent-replayed') };
    };
    const once = await streamed();
    assert.match(once.text, /data: \[DONE\]/);
    const twice = await streamed();
    assert.equal(twice.replayed, 'true');
    assert.equal(twice.text, once.text);
    engine.tasks += 2;
    engine.tokens_in += first.body.usage.prompt_tokens * 2;
    engine.tokens_out += 6 + 5;
    const after = await jsonRequest<UsageReport>(`${url}/v2/usage?since=${since}`);
    assert.equal(after.body.totals[0]?.tasks, engine.tasks, 'a replayed answer is not run or counted again');
    assert.equal(after.body.totals[0]?.tokens_out, engine.tokens_out);
    const bad = await jsonRequest<ErrorEnvelope>(`${url}/v2/usage?since=yesterday`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /^since: /);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(
        `orchd_usage_tokens_total\\{identity="anonymous",model="demo",direction="out"\\} ${engine.tokens_out}\\b`,
      ),
    );
    // While the key's first request runs, a retry is told so (409, retriable); one cut off keeps no answer.
    const running = new AbortController();
    const long = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'long-1' },
      body: JSON.stringify({ ...chat(100_000), stream: true }),
      signal: AbortSignal.any([running.signal, AbortSignal.timeout(30_000)]),
    });
    const reader = long.body?.getReader();
    await reader?.read();
    const during = await keyed('long-1', { ...chat(100_000), stream: true });
    assert.equal(during.status, 409);
    assert.match(during.body.error.message, /still running/);
    assert.equal(during.body.error.code, 'conflict');
    running.abort();
    await reader?.cancel().catch(() => undefined);
    await waitFor(
      'the cut-off request to end',
      async () =>
        (await jsonRequest<{ pools: { slots_free: number }[] }>(`${url}/v2/pools`)).body.pools[0]?.slots_free === 1
          ? true
          : undefined,
      10_000,
    );
  });

  test('200 concurrent requests against a daily budget of 1,000 tokens, 50 each: 20 pass, the rest 429 BUDGET_EXCEEDED, and the ledger holds 1,000', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-budget-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const budgets = join(dir, 'budgets.json');
    await writeFile(budgets, JSON.stringify({ default: { tokens_per_day: 1000 } }));
    const cluster = await startCluster([[{ id: 'demo', slots: 2 }]], {
      ORCHD_DATABASE_URL: `sqlite:${join(dir, 'tasks.db')}`,
      ORCHD_BUDGETS_FILE: budgets,
      ORCHD_ADMISSION_CAPACITY: '256',
    });
    t.after(cluster.cleanup);
    const answers = await Promise.all(
      Array.from({ length: 200 }, () =>
        jsonRequest<ChatAnswer & OpenAIError>(`${cluster.url}/v1/chat/completions`, {
          method: 'POST',
          body: chat(50),
        }),
      ),
    );
    const accepted = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(accepted.length + refused.length, 200, answers.map((a) => a.status).join(','));
    assert.equal(accepted.length, 20);
    for (const answer of refused) assert.equal(answer.body.error.code, 'budget_exceeded');
    assert.match(
      refused[0]?.body.error.message ?? '',
      /daily token budget of anonymous .* resets at \d{4}-\d\d-\d\dT00:00:00.000Z/,
    );
    assert.ok(Number(refused[0]?.headers['retry-after']) > 0, 'Retry-After says when it resets');
    const produced = accepted.reduce((sum, a) => sum + a.body.usage.completion_tokens, 0);
    assert.equal(produced, 1000);
    const usage = await jsonRequest<UsageReport>(`${cluster.url}/v2/usage`);
    assert.equal(usage.body.totals[0]?.tokens_out, produced, 'the ledger sums to the engine’s counts');
    assert.equal(usage.body.totals[0]?.tasks, 20);
    assert.equal(usage.body.budgets[0]?.tokens, 1000);
    assert.equal(usage.body.budgets[0]?.tokens_per_day, 1000);
  });
});
