import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AdmissionResponse, ErrorEnvelope, PoolList, SessionInfo } from '@llama-orch/contracts';
import { startCluster, type Cluster } from '../src/cluster.ts';
import { logged } from '../src/daemon-logs.ts';
import { jsonRequest, type JsonAnswer } from '../src/http-json.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize, type SseEvent } from '../src/sse.ts';

/** The llama-orch contract's TaskRequestV2 (digest §1.3), every field a client written to it sends. */
const CONTRACT_TASK = {
  task_id: '5f1b7c1e-3c1d-4f0a-9a53-2d3f1e0b6a01',
  session_id: '0b8e4c1a-7d6f-4e3b-8a2c-9f1d2e3c4b5a',
  workload: 'completion',
  model_ref: 'demo',
  engine: 'llamacpp',
  ctx: 2048,
  priority: 'interactive',
  seed: 123456789,
  determinism: 'strict',
  sampler_profile_version: 'v1',
  prompt: 'Write a haiku about GPUs.',
  max_tokens: 48,
  deadline_ms: 30_000,
  expected_tokens: 48,
  kv_hint: 'reuse',
  placement: { mode: 'pin', pin_pool_id: 'alpha', allow_fallback: false },
};

type Answer = JsonAnswer<AdmissionResponse & ErrorEnvelope>;
const submit = (url: string, body: Record<string, unknown>): Promise<Answer> =>
  jsonRequest<AdmissionResponse & ErrorEnvelope>(`${url}/v2/tasks`, { method: 'POST', body });
const short = (extra: Record<string, unknown>) => ({ model_ref: 'demo', prompt: 'x', max_tokens: 4, ...extra });

/** Follow an admitted task to its end (within the stream budget); its events. */
async function followToEnd(url: string, admitted: Answer): Promise<SseEvent[]> {
  assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
  const { events } = await followEvents(`${url}${admitted.body.streams.sse}`, { timeoutMs: 30_000 });
  assert.equal(events.at(-1)?.event, 'end', summarize(events));
  return events;
}
const poolOf = (events: readonly SseEvent[]): string => String(events[0]?.data['pool_id']);
const text = (events: readonly SseEvent[]): string =>
  events
    .filter((e) => e.event === 'token')
    .map((e) => String(e.data['t']))
    .join('');

async function allIdle(url: string): Promise<void> {
  await waitFor('every pool idle in orchestratord', async () => {
    const pools = (await jsonRequest<PoolList>(`${url}/v2/pools`)).body.pools;
    return pools.length === 2 && pools.every((p) => p.ready && p.slots_free === p.slots_total) ? true : undefined;
  });
}

// One cluster of two nodes: node-0 serves pool alpha (ctx 4096), node-1 pool beta (ctx 2048), both the demo model.
describe('the llama-orch task contract and sessions against real pools', { timeout: 20 * 60_000 }, () => {
  let started: Cluster | undefined;
  const cluster = (): Cluster => {
    assert.ok(started, 'the cluster started');
    return started;
  };
  before(async () => {
    started = await startCluster([[{ id: 'alpha', slots: 2, ctx: 4096 }], [{ id: 'beta', slots: 1, ctx: 2048 }]]);
  });
  after(() => started?.cleanup());

  test("admits the contract's own TaskRequestV2 unchanged and streams it to one end within its time budget", async () => {
    const { url, orchestrator } = cluster();
    const admitted = await submit(url, CONTRACT_TASK);
    assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
    assert.equal(admitted.body.task_id, CONTRACT_TASK.task_id);
    const events = await followToEnd(url, admitted);
    assert.match(summarize(events), /^started, (token|metrics)/);
    assert.equal(poolOf(events), 'alpha');
    const end = events.at(-1)?.data ?? {};
    assert.ok(Number(end['tokens_out']) >= 1 && Number(end['tokens_out']) <= 48, JSON.stringify(end));
    const [line] = await logged(
      () => orchestrator.proc.output(),
      'the task admitted line with its determinism fields',
      (l) => l['msg'] === 'task admitted' && l['task_id'] === CONTRACT_TASK.task_id,
    );
    assert.deepEqual(
      [line?.['seed'], line?.['sampler_profile_version'], line?.['determinism'], line?.['workload']],
      [123456789, 'v1', 'strict', 'completion'],
    );
    const session = await jsonRequest<SessionInfo>(`${url}/v2/sessions/${CONTRACT_TASK.session_id}`);
    assert.deepEqual([session.status, session.body.turns, session.body.pool_id], [200, 1, 'alpha']);
  });

  test('refuses each value it cannot serve with a 400 naming the field, and an unknown node with 503 NODE_UNAVAILABLE', async () => {
    const { url } = cluster();
    const cases: [Record<string, unknown>, number, string, RegExp][] = [
      [{ engine: 'vllm' }, 400, 'INVALID_PARAMS', /^engine: "vllm" is not served; this deployment serves llamacpp$/],
      [
        { workload: 'embedding', prompt: undefined, inputs: ['a'] },
        400,
        'INVALID_PARAMS',
        /^workload: "embedding" needs a pool of kind embedding serving demo; demo is served for completion only$/,
      ],
      [{ output_mode: 'edits' }, 400, 'INVALID_PARAMS', /^output_mode: "edits" is not served/],
      [
        { sampler_profile_version: 'v2' },
        400,
        'INVALID_PARAMS',
        /^sampler_profile_version: unknown sampler profile; this deployment has v1$/,
      ],
      [{ determinism: 'strict' }, 400, 'INVALID_PARAMS', /^seed: required when determinism is "strict"$/],
      [{ kv_hint: 'warm' }, 400, 'INVALID_PARAMS', /^kv_hint: /],
      [
        { placement: { require_device_mask: '0' } },
        400,
        'INVALID_PARAMS',
        /^placement\.require_device_mask: no pool serving demo runs on exactly "0" \(pool alpha: cpu; pool beta: cpu\)$/,
      ],
      [
        { ctx: 8192 },
        400,
        'INVALID_PARAMS',
        /^ctx: no pool serving demo has a context of 8192 tokens \(the largest: 4096\)$/,
      ],
      [
        { placement: { node_id: 'node-9' } },
        503,
        'NODE_UNAVAILABLE',
        /^placement\.node_id: node node-9 is unknown to orchestratord \(known nodes: node-0, node-1\)$/,
      ],
    ];
    for (const [extra, status, code, message] of cases) {
      const answer = await submit(url, short(extra));
      assert.deepEqual([answer.status, answer.body.code], [status, code], JSON.stringify([extra, answer.body]));
      assert.match(answer.body.message, message);
    }
  });

  test('placement.node_id keeps a task on the pools of that node, and require_device_mask "cpu" on CPU pools', async () => {
    const { url } = cluster();
    await allIdle(url);
    assert.equal(poolOf(await followToEnd(url, await submit(url, short({})))), 'alpha', 'the tie-break chooses alpha');
    for (const node of ['node-1', 'node-0', 'node-1']) {
      await allIdle(url);
      const events = await followToEnd(url, await submit(url, short({ placement: { node_id: node } })));
      assert.equal(poolOf(events), node === 'node-1' ? 'beta' : 'alpha', `pinned to ${node}`);
    }
    await allIdle(url);
    const cpu = { placement: { node_id: 'node-1', require_device_mask: 'cpu' } };
    assert.equal(poolOf(await followToEnd(url, await submit(url, short(cpu)))), 'beta');
  });

  test('output_mode json answers with text that parses as a JSON object, for a prompt and for messages', async () => {
    const { url } = cluster();
    const prompt = await followToEnd(url, await submit(url, short({ output_mode: 'json', max_tokens: 256 })));
    assert.equal(typeof JSON.parse(text(prompt)), 'object', text(prompt));
    const chat = await followToEnd(
      url,
      await submit(url, {
        model_ref: 'demo',
        messages: [{ role: 'user', content: 'Answer in JSON.' }],
        output_mode: 'json',
        max_tokens: 256,
      }),
    );
    assert.equal(typeof JSON.parse(text(chat)), 'object', text(chat));
  });

  test('sessions report turns, TTL, KV and budgets; the turn past a budget gets 429 BUDGET_EXCEEDED naming it', async () => {
    const { url } = cluster();
    const budget = { max_turns: 3, tokens: 40, time_ms: 60_000 };
    const turn = (maxTokens: number, extra: Record<string, unknown> = {}) =>
      submit(url, short({ session_id: 'budgeted', max_tokens: maxTokens, ignore_eos: true, ...extra }));

    const first = await turn(16, { session_budget: budget });
    assert.equal(first.headers['x-budget-tokens-remaining'], '24', 'its max_tokens is reserved');
    assert.equal(first.headers['x-budget-time-remaining-ms'], '60000');
    await followToEnd(url, first);
    const info = (await jsonRequest<SessionInfo>(`${url}/v2/sessions/budgeted`)).body;
    assert.deepEqual(
      [info.turns, info.max_turns, info.tokens_used, info.tokens_budget_remaining, info.kv_warmth],
      [1, 3, 16, 24, true],
    );
    assert.ok(info.ttl_ms_remaining > 590_000 && info.ttl_ms_remaining <= 600_000, JSON.stringify(info));
    assert.ok((info.kv_tokens ?? 0) > 16, 'the prompt and the 16 tokens it made are in the context');
    // The demo model: 2 layers × 4 KV heads × (16 + 16) per head × 2 bytes (f16 cache) = 512 bytes per token.
    const pool = (await jsonRequest<PoolList>(`${url}/v2/pools`)).body.pools.find((p) => p.pool_id === info.pool_id);
    assert.equal(pool?.kv_bytes_per_token, 512);
    assert.equal(info.kv_bytes, (info.kv_tokens ?? 0) * 512);
    assert.ok(info.time_used_ms > 0 && info.time_budget_remaining_ms === 60_000 - info.time_used_ms);

    const tooMany = await turn(25);
    assert.deepEqual([tooMany.status, tooMany.body.code, tooMany.body.retriable], [429, 'BUDGET_EXCEEDED', false]);
    assert.match(tooMany.body.message, /^session_budget\.tokens: session budgeted has 24 of its 40 tokens left/);
    const changed = await turn(4, { session_budget: { ...budget, tokens: 1000 } });
    assert.equal(changed.status, 400);
    assert.match(changed.body.message, /^session_budget: session budgeted has its budgets from its first turn/);

    await followToEnd(url, await turn(16, { session_budget: budget }));
    await followToEnd(url, await turn(8));
    const fourth = await turn(1);
    assert.deepEqual([fourth.status, fourth.body.code], [429, 'BUDGET_EXCEEDED']);
    assert.match(fourth.body.message, /^session_budget\.max_turns: session budgeted has had its 3 turns/);
    assert.equal((await jsonRequest<SessionInfo>(`${url}/v2/sessions/budgeted`)).body.tokens_budget_remaining, 0);

    const timed = await submit(url, short({ session_id: 'timed', session_budget: { time_ms: 1 }, ignore_eos: true }));
    assert.equal(timed.headers['x-budget-tokens-remaining'], undefined, 'no tokens budget, no header');
    await followToEnd(url, timed);
    const late = await submit(url, short({ session_id: 'timed' }));
    assert.deepEqual([late.status, late.body.code], [429, 'BUDGET_EXCEEDED']);
    assert.match(late.body.message, /^session_budget\.time_ms: session timed has used its time budget/);
  });

  test('kv_hint cold skips session affinity; reuse keeps the session on its pool', async () => {
    const { url } = cluster();
    await allIdle(url);
    const pinned = { session_id: 'warm', placement: { mode: 'pin', pin_pool_id: 'beta' } };
    assert.equal(poolOf(await followToEnd(url, await submit(url, short(pinned)))), 'beta');
    await allIdle(url);
    const reuse = await followToEnd(url, await submit(url, short({ session_id: 'warm', kv_hint: 'reuse' })));
    assert.equal(poolOf(reuse), 'beta', 'affinity beats the tie-break');
    await allIdle(url);
    const cold = await followToEnd(url, await submit(url, short({ session_id: 'warm', kv_hint: 'cold' })));
    assert.equal(poolOf(cold), 'alpha', 'no affinity: the tie-break chooses alpha');
    const info = (await jsonRequest<SessionInfo>(`${url}/v2/sessions/warm`)).body;
    assert.deepEqual([info.turns, info.pool_id, info.kv_warmth], [3, 'alpha', true]);
  });
});
