import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TaskRequestSchema, validate, type PoolStatus, type TaskRequest } from '@llama-orch/contracts';
import { place, type PoolView } from '../src/placement/place.ts';
import { poolView } from './pool-view-fixture.ts';
import { nativeEngineRequest } from '../src/tasks/native-request.ts';
import { servingProblem } from '../src/tasks/serving-checks.ts';
import { KV_WARM_MS, SessionStore, type SessionTurn } from '../src/tasks/sessions.ts';

function view(poolId: string, over: Partial<PoolStatus> = {}, available = true): PoolView {
  return poolView(
    poolId,
    { ctx_max: 2048, ...over },
    { nodeUrl: `http://127.0.0.1:9200/${over.node_id ?? 'n'}`, available },
  );
}

function request(body: Record<string, unknown>): TaskRequest {
  const parsed = validate(TaskRequestSchema, { model_ref: 'demo', prompt: 'x', ...body });
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
  return parsed.value;
}

function admitted(store: SessionStore, id: string, maxTokens: number, budget?: object): SessionTurn {
  const answer = store.admit(id, budget, maxTokens);
  assert.equal(answer.kind, 'admitted', answer.kind === 'refused' ? answer.envelope.message : '');
  return (answer as { turn: SessionTurn }).turn;
}

function refusal(store: SessionStore, id: string, maxTokens: number, budget?: object): string {
  const answer = store.admit(id, budget, maxTokens);
  assert.equal(answer.kind, 'refused');
  return answer.kind === 'refused' ? `${answer.envelope.code} ${answer.envelope.message}` : '';
}

const ran = (tokensOut: number, runMs: number) => ({ ran: true, tokensOut, tokensIn: 10, runMs });

describe('the native task contract and sessions (units)', () => {
  test('enforces max_turns, the tokens budget and the time budget at admission with BUDGET_EXCEEDED naming the budget', () => {
    const store = new SessionStore(() => 0);
    for (let i = 0; i < 8; i += 1) admitted(store, 's', 1).settle(ran(1, 1));
    assert.match(refusal(store, 's', 1), /^BUDGET_EXCEEDED session_budget\.max_turns: session s has had its 8 turns/);

    admitted(store, 't', 40, { tokens: 100 }).settle(ran(30, 5));
    const running = admitted(store, 't', 50);
    assert.equal(running.tokensRemaining, 20, 'a running turn reserves its max_tokens');
    assert.match(
      refusal(store, 't', 21),
      /^BUDGET_EXCEEDED session_budget\.tokens: session t has 20 of its 100 tokens left, fewer than this turn's max_tokens 21/,
    );
    running.settle(ran(50, 5));
    assert.equal(store.info('t')?.tokens_budget_remaining, 20);
    assert.equal(store.info('t')?.kv_tokens, 60, 'prompt plus output of the last turn');

    admitted(store, 'u', 1, { time_ms: 100 }).settle(ran(1, 100));
    assert.match(
      refusal(store, 'u', 1),
      /^BUDGET_EXCEEDED session_budget\.time_ms: session u has used its time budget/,
    );
  });

  test('gives back a turn that never reached an engine or was refused, and sets budgets only on the first turn', () => {
    const store = new SessionStore(() => 0);
    admitted(store, 's', 10, { max_turns: 1, tokens: 10 }).settle({
      ran: false,
      tokensOut: 0,
      tokensIn: null,
      runMs: 0,
    });
    admitted(store, 's', 10).cancel();
    assert.deepEqual([store.info('s')?.turns, store.info('s')?.tokens_budget_remaining], [0, 10]);
    const again = store.admit('s', { max_turns: 1, tokens: 10 }, 10);
    assert.equal(again.kind, 'admitted', 'repeating the same budgets is fine');
    assert.match(
      refusal(store, 's', 1, { max_turns: 2 }),
      /^INVALID_PARAMS session_budget: session s has its budgets from its first turn \(max_turns 1, tokens 10, time_ms none\)/,
    );
  });

  test('kv_warmth holds while the last pool serves and its last turn ended within the warm window', () => {
    let now = 0;
    const store = new SessionStore(() => now);
    admitted(store, 's', 4).settle(ran(4, 1));
    store.recordTurn('s', 'alpha', true);
    assert.equal(store.info('s', () => true)?.kv_warmth, true);
    assert.equal(store.info('s', (pool) => pool !== 'alpha')?.kv_warmth, false, 'its pool no longer serves');
    now = KV_WARM_MS + 1;
    assert.equal(store.info('s', () => true)?.kv_warmth, false, 'too long ago');
    store.recordTurn('s', 'alpha', false);
    assert.equal(store.info('s', () => true)?.kv_warmth, false, 'a turn without tokens warms nothing');
    assert.equal(store.info('s')?.kv_bytes, null);
  });

  test('placement keeps only the pools of placement.node_id, on exactly require_device_mask, with ctx_max ≥ ctx', () => {
    const pools = [
      view('a', { node_id: 'n1' }),
      view('b', { node_id: 'n2', ctx_max: 8192 }),
      view('g', { node_id: 'n2', device: 'cuda' }),
    ];
    const on = (placement: object, ctx?: number) =>
      place(pools, { model: 'demo', placement: { mode: 'auto', allow_fallback: true, ...placement }, ctx });
    const chosen = (p: ReturnType<typeof place>): string =>
      p.kind === 'assigned' ? p.pool.status.pool_id : p.kind === 'impossible' ? p.message : p.kind;
    assert.equal(chosen(on({ node_id: 'n2' })), 'b');
    assert.equal(chosen(on({}, 4096)), 'b');
    assert.match(chosen(on({}, 9000)), /^ctx: no pool serving demo has a context of 9000 tokens \(the largest: 8192\)/);
    assert.equal(chosen(on({ node_id: 'n1', require_device_mask: 'cpu' })), 'a');
    assert.match(
      chosen(on({ node_id: 'n2', require_device_mask: '0' })),
      /^placement\.require_device_mask: no pool serving demo runs on exactly "0" \(pool b: cpu; pool g: cuda \(its GPU indexes are not reported\)\)/,
    );
    assert.equal(
      chosen(on({ node_id: 'n9' })),
      'unavailable',
      'a node that vanished while a task waits: not impossible',
    );
  });

  test('placement never chooses a pool off the pinned node or on other devices (property)', () => {
    const poolArb = fc.record({
      id: fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5'),
      node: fc.constantFrom('n1', 'n2', 'n3'),
      device: fc.constantFrom('cpu' as const, 'cuda' as const),
      leases: fc.integer({ min: 0, max: 2 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(poolArb, { selector: (p) => p.id, minLength: 1 }),
        fc.constantFrom('n1', 'n2', 'n3'),
        fc.constantFrom(undefined, 'cpu', '0'),
        (specs, node, mask) => {
          const pools = specs.map((p) => ({ ...view(p.id, { node_id: p.node, device: p.device }), leases: p.leases }));
          const placed = place(pools, {
            model: 'demo',
            placement: { mode: 'auto', allow_fallback: true, node_id: node, require_device_mask: mask },
          });
          if (placed.kind !== 'assigned') return;
          assert.equal(placed.pool.status.node_id, node);
          if (mask !== undefined) assert.equal(placed.pool.status.device, 'cpu');
          assert.notEqual(mask, '0', 'no pool can be proven to run on GPU 0');
        },
      ),
    );
  });

  test('names what this deployment cannot serve: engine, workload, output_mode edits; an unknown node is NODE_UNAVAILABLE', () => {
    const views = [view('a', { node_id: 'node-0' }), view('b', { node_id: 'node-1' }, false)];
    const problem = (body: Record<string, unknown>) => {
      const envelope = servingProblem(request(body), views);
      return envelope === null ? null : `${envelope.code} ${envelope.message}`;
    };
    assert.equal(problem({}), null);
    assert.match(
      problem({ engine: 'vllm' }) ?? '',
      /^INVALID_PARAMS engine: "vllm" is not served; this deployment serves llamacpp$/,
    );
    assert.match(
      problem({ workload: 'embedding', prompt: undefined, inputs: ['a'] }) ?? '',
      /^INVALID_PARAMS workload: "embedding" needs a pool of kind embedding serving demo; demo is served for completion only$/,
    );
    assert.match(
      problem({ output_mode: 'edits' }) ?? '',
      /^INVALID_PARAMS output_mode: "edits" is not served.*text and json are$/,
    );
    assert.match(
      problem({ placement: { node_id: 'node-9' } }) ?? '',
      /^NODE_UNAVAILABLE placement\.node_id: node node-9 is unknown to orchestratord \(known nodes: node-0, node-1\)$/,
    );
    assert.match(
      problem({ placement: { node_id: 'node-1' } }) ?? '',
      /^NODE_UNAVAILABLE placement\.node_id: node node-1 does not answer/,
    );
    assert.equal(problem({ placement: { node_id: 'node-0' } }), null);
  });

  test('maps output_mode json to the engine JSON grammar and kv_hint cold to no prompt cache', () => {
    assert.deepEqual(nativeEngineRequest(request({ output_mode: 'json', kv_hint: 'cold', seed: 3 })), {
      endpoint: '/completion',
      body: {
        seed: 3,
        cache_prompt: false,
        json_schema: { type: 'object' },
        prompt: 'x',
        n_predict: 256,
        stream: true,
      },
    });
    const chat = nativeEngineRequest(
      request({ prompt: undefined, messages: [{ role: 'user', content: 'hi' }], output_mode: 'json' }),
    );
    assert.deepEqual(chat.body['response_format'], { type: 'json_object' });
    assert.equal(nativeEngineRequest(request({})).body['cache_prompt'], undefined, 'reuse is the engine default');
  });
});
