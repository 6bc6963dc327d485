/**
 * KV-warm slots (issue 19) on real engines: a pool of two llama-server replicas with two slots each. A session's
 * turns go back to the engine slot that holds its conversation, as the engine's own /slots shows (the slot's
 * `n_prompt_tokens_cache`: the prompt tokens it reused); a prompt without a session that shares a long prefix with
 * one already served finds it too; when that slot is busy, or its engine died, the turn still ends with `end`
 * elsewhere; deleting the session frees its slot's cache. And on a pool of one slot: a conversation another pushed out
 * of the slot comes back from the engine's RAM prompt cache on its next turn, which is why pool-managerd sends a
 * displaced prompt's turn back to its replica.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startCluster } from '../src/cluster.ts';
import {
  engineSlots,
  enginesOf,
  promptTokensComputed,
  type EngineProcess,
  type EngineSlot,
} from '../src/engine-slots.ts';
import { jsonRequest } from '../src/http-json.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize, type SseEvent } from '../src/sse.ts';

type Message = { role: 'system' | 'user' | 'assistant'; content: string };

/** A system prompt of about 2,400 characters, different per conversation. */
const systemPrompt = (name: string): string =>
  Array.from(
    { length: 40 },
    (_, i) => `Rule ${i} of ${name}: answer briefly, keep the numbers ${i * 7} and ${i * 13} in mind.`,
  ).join(' ');

describe('KV-warm slots (issue 19)', { timeout: 10 * 60_000 }, () => {
  test("a session's turns return to the engine slot holding its conversation (the engine's /slots says it reused it); a shared prefix finds its slot without a session; a busy slot or a dead engine costs only the cache; deleting the session frees it", async (t) => {
    const cluster = await startCluster([[{ id: 'chat', slots: 2, replicas: 2, ctx: 4096 }]]);
    t.after(cluster.cleanup);
    const node = cluster.nodes[0];
    assert.ok(node !== undefined);
    const nodePid = node.proc.child.pid ?? 0;

    const run = async (
      messages: readonly Message[],
      options: { session?: string; maxTokens?: number; kvHint?: 'cold' } = {},
    ): Promise<{ events: SseEvent[]; text: string }> => {
      const id = `kv-${Math.random().toString(36).slice(2, 10)}`;
      const admitted = await jsonRequest(`${cluster.url}/v2/tasks`, {
        method: 'POST',
        body: {
          task_id: id,
          model_ref: 'chat',
          messages,
          max_tokens: options.maxTokens ?? 8,
          ignore_eos: true,
          temperature: 0,
          ...(options.session === undefined ? {} : { session_id: options.session }),
          ...(options.kvHint === undefined ? {} : { kv_hint: options.kvHint }),
        },
      });
      assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
      const followed = await followEvents(`${cluster.url}/v2/tasks/${id}/events`, { timeoutMs: 120_000 });
      const names = followed.events.map((e) => e.event);
      assert.equal(names.filter((n) => n === 'end' || n === 'error').length, 1, summarize(followed.events));
      assert.equal(names.at(-1), 'end', JSON.stringify(followed.events.at(-1)));
      const text = followed.events
        .filter((e) => e.event === 'token')
        .map((e) => (typeof e.data['t'] === 'string' ? e.data['t'] : ''))
        .join('');
      return { events: followed.events, text };
    };
    type Seen = { engine: EngineProcess; slot: EngineSlot };
    /** Every engine slot now. */
    const slotsNow = async (): Promise<Seen[]> => {
      const engines = await enginesOf(nodePid);
      const all = await Promise.all(
        engines.map(async (engine) => (await engineSlots(engine.url)).map((slot) => ({ engine, slot }))),
      );
      return all.flat();
    };
    const where = (seen: Seen): string => `${seen.engine.pid}/${seen.slot.id}`;
    /**
     * Run a turn alone and say which engine slot served it (the one whose last task changed) and how many of its
     * prompt tokens the engine computed (its prompt_tokens_total grew by them; the rest it reused from the cache).
     */
    const served = async (
      ...args: Parameters<typeof run>
    ): Promise<{ answer: Awaited<ReturnType<typeof run>>; slot: Seen; computed: number; prompt: number }> => {
      const before = await slotsNow();
      const tasks = new Map(before.map((seen) => [where(seen), seen.slot.id_task]));
      const engines = [...new Map(before.map((seen) => [seen.engine.pid, seen.engine])).values()];
      const computedBefore = new Map(
        await Promise.all(engines.map(async (e) => [e.pid, await promptTokensComputed(e.url)] as const)),
      );
      const answer = await run(...args);
      const changed = (await slotsNow()).filter((seen) => tasks.get(where(seen)) !== seen.slot.id_task);
      assert.equal(changed.length, 1, `one slot served it: ${JSON.stringify(changed)}`);
      const slot = changed[0] as Seen;
      const computed = (await promptTokensComputed(slot.engine.url)) - (computedBefore.get(slot.engine.pid) ?? 0);
      const prompt = Number(answer.events.at(-1)?.data['tokens_in'] ?? 0);
      return { answer, slot, computed, prompt };
    };
    const kvDecisions = async (): Promise<Record<string, number>> => {
      const text = await (await fetch(`${node.url}/metrics`)).text();
      const counts: Record<string, number> = {};
      for (const match of text.matchAll(/^pool_kv_dispatches_total\{pool_id="chat",decision="(\w+)"\} (\d+)/gm))
        counts[match[1] ?? ''] = Number(match[2]);
      return counts;
    };
    await waitFor(
      'two engines answering /slots',
      async () => {
        const engines = await enginesOf(nodePid);
        if (engines.length !== 2) return undefined;
        const answers = await Promise.all(engines.map((e) => engineSlots(e.url).catch(() => null)));
        return answers.every((a) => a !== null) ? true : undefined;
      },
      60_000,
    );

    // Four conversations, one turn each, one after another: each takes a slot of its own (least loaded replica,
    // least recently used slot), so all four slots hold a conversation.
    const history = new Map<string, Message[]>();
    const home = new Map<string, string>();
    for (const name of ['a', 'b', 'c', 'd']) {
      const messages: Message[] = [
        { role: 'system', content: systemPrompt(name) },
        { role: 'user', content: `First question of ${name}.` },
      ];
      const { answer, slot } = await served(messages, { session: `sess-${name}` });
      history.set(name, [...messages, { role: 'assistant', content: answer.text }]);
      home.set(name, where(slot));
    }
    assert.equal(new Set(home.values()).size, 4, `four slots hold a conversation each: ${JSON.stringify([...home])}`);

    // Second turns, in another order: each goes back to its own slot and reuses almost its whole prompt there.
    const turn = async (
      name: string,
      question: string,
      options: { maxTokens?: number } = {},
    ): Promise<Awaited<ReturnType<typeof served>>> => {
      const messages: Message[] = [...(history.get(name) ?? []), { role: 'user', content: question }];
      const result = await served(messages, { session: `sess-${name}`, ...options });
      history.set(name, [...messages, { role: 'assistant', content: result.answer.text }]);
      return result;
    };
    for (const name of ['c', 'a', 'd', 'b']) {
      const { slot, computed, prompt } = await turn(name, `Second question of ${name}.`);
      assert.equal(where(slot), home.get(name), `${name}'s second turn went back to its slot`);
      assert.ok(
        prompt > 500 && computed < 0.2 * prompt,
        `${name}'s second turn computed ${computed} of ${prompt} prompt tokens`,
      );
    }
    const warm = await kvDecisions();
    assert.ok((warm['warm'] ?? 0) >= 4, `warm decisions: ${JSON.stringify(warm)}`);
    // The cost of a cold cache is measured from the engine's own timings (the first turns computed whole prompts).
    const prefill = /^pool_prefill_ms_per_token\{pool_id="chat"\} ([\d.e+-]+)$/m.exec(
      await (await fetch(`${node.url}/metrics`)).text(),
    );
    assert.ok(prefill !== null && Number(prefill[1]) > 0, `pool_prefill_ms_per_token: ${prefill?.[0]}`);

    // No session, a long prefix shared with conversation a: it goes where a's prompt is and reuses that prefix.
    const shared = await served([
      { role: 'system', content: systemPrompt('a') },
      { role: 'user', content: 'Another question.' },
    ]);
    assert.equal(where(shared.slot), home.get('a'), 'the shared prefix found its slot without a session');
    assert.ok(shared.computed < 0.5 * shared.prompt, `computed ${shared.computed} of ${shared.prompt} prompt tokens`);

    // kv_hint cold: not routed by its cache (and the engine does not reuse it).
    const off = (await kvDecisions())['off'] ?? 0;
    await run([...(history.get('b') ?? []), { role: 'user', content: 'Cold question.' }], {
      session: 'sess-b',
      kvHint: 'cold',
    });
    assert.equal((await kvDecisions())['off'], off + 1, 'kv_hint cold is not routed by its cache');

    // Two turns of one session at once: one gets the warm slot; the other waits for it or goes cold: both end.
    const both = await Promise.all([
      run([...(history.get('c') ?? []), { role: 'user', content: 'Long one.' }], { session: 'sess-c', maxTokens: 200 }),
      run([...(history.get('c') ?? []), { role: 'user', content: 'Short one.' }], { session: 'sess-c', maxTokens: 8 }),
    ]);
    assert.deepEqual(
      both.map((b) => b.events.at(-1)?.data['tokens_out']),
      [200, 8],
      'both turns ended with what they asked for',
    );
    const busy = await kvDecisions();
    assert.ok(
      (busy['cold_busy'] ?? 0) + (busy['warm_waited'] ?? 0) >= 1,
      `the busy slot was weighed: ${JSON.stringify(busy)}`,
    );

    // The engine holding conversation d dies: d's next turn ends on the other engine.
    const dHome = (await turn('d', 'Third question of d.')).slot;
    process.kill(dHome.engine.pid, 'SIGKILL');
    await run([...(history.get('d') ?? []), { role: 'user', content: 'Fourth question of d.' }], { session: 'sess-d' });

    // Deleting a session frees its slot's cache in the engine.
    const aHome = (await turn('a', 'Last question of a.')).slot;
    assert.ok((aHome.slot.n_prompt_tokens ?? 0) > 200);
    const deleted = await jsonRequest(`${cluster.url}/v2/sessions/sess-a`, { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    const after = (await engineSlots(aHome.engine.url)).find((slot) => slot.id === aHome.slot.id);
    assert.equal(after?.n_prompt_tokens ?? 0, 0, `the slot that held a: ${JSON.stringify(after)}`);
  });

  test("a conversation another pushed out of the engine's only slot comes back from its RAM prompt cache, not computed again", async (t) => {
    const cluster = await startCluster([[{ id: 'chat', slots: 1, replicas: 1, ctx: 4096 }]]);
    t.after(cluster.cleanup);
    const node = cluster.nodes[0];
    assert.ok(node !== undefined);
    const engine = await waitFor(
      'the engine answering /slots',
      async () => {
        const [found] = await enginesOf(node.proc.child.pid ?? 0);
        return found !== undefined && (await engineSlots(found.url).catch(() => null)) !== null ? found : undefined;
      },
      60_000,
    );
    /** One turn, alone; the prompt tokens the engine computed for it, of those it was sent. */
    const turn = async (session: string, messages: readonly Message[]): Promise<{ computed: number; sent: number }> => {
      const before = await promptTokensComputed(engine.url);
      const id = `kv-${Math.random().toString(36).slice(2, 10)}`;
      const admitted = await jsonRequest(`${cluster.url}/v2/tasks`, {
        method: 'POST',
        body: { task_id: id, model_ref: 'chat', messages, max_tokens: 8, ignore_eos: true, session_id: session },
      });
      assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
      const followed = await followEvents(`${cluster.url}/v2/tasks/${id}/events`, { timeoutMs: 120_000 });
      const end = followed.events.at(-1);
      assert.equal(end?.event, 'end', summarize(followed.events));
      return { computed: (await promptTokensComputed(engine.url)) - before, sent: Number(end?.data['tokens_in']) };
    };
    const a: Message[] = [
      { role: 'system', content: systemPrompt('a') },
      { role: 'user', content: 'First question of a.' },
    ];
    await turn('sess-a', a);
    // b takes the only slot: a's conversation leaves it for the engine's RAM prompt cache.
    const b = await turn('sess-b', [
      { role: 'system', content: systemPrompt('b') },
      { role: 'user', content: 'First question of b.' },
    ]);
    assert.ok(b.computed > 0.9 * b.sent, `b had nothing to reuse: computed ${b.computed} of ${b.sent}`);
    const again = await turn('sess-a', [
      ...a,
      { role: 'assistant', content: 'Noted.' },
      { role: 'user', content: 'Second question of a.' },
    ]);
    assert.ok(
      again.computed < 0.2 * again.sent,
      `a's second turn computed ${again.computed} of ${again.sent} prompt tokens: it was not restored from RAM`,
    );
  });
});
