/**
 * Models on demand (issue 18) on real engines: three pools loaded on demand, of three model sizes, under a CPU memory
 * budget that holds the small one with either other but never the middle one with the large one. Every task ends
 * with `end` on the pool of its model; the engines alive never hold more than the budget (their model files, read
 * from /proc, against the estimates); the least recently used idle pool is the one unloaded; an idle pool unloads
 * after its idle_unload_s.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { PoolStatus } from '@llama-orch/contracts';
import { request } from 'undici';
import { testEngine } from '../src/engine-fixture.ts';
import { startHomeWithConfig } from '../src/home-world.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd, type PoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { engineModels, MODEL_SIZES as SIZES, sizedModels, type ModelSize as Size } from '../src/sized-models.ts';
import { followEvents, summarize, type SseEvent } from '../src/sse.ts';

const CTX = 512;

describe('models loaded on demand under a memory budget', { timeout: 6 * 60_000 }, () => {
  test('swap, evict the least recently used, unload when idle: no task lost, never over the budget', async (t) => {
    const fixture = await testEngine();
    const files = await sizedModels(CTX);
    const paths = Object.fromEntries(SIZES.map((s) => [s, files[s].path])) as Record<Size, string>;
    const estimate = Object.fromEntries(SIZES.map((s) => [s, files[s].estimate])) as Record<Size, number>;
    const budget = Math.floor(estimate.small + estimate.large + (estimate.middle - estimate.small) / 2);
    assert.ok(estimate.middle + estimate.large > budget && estimate.small + estimate.middle <= budget, 'the sizes');

    const dir = await mkdtemp(join(tmpdir(), 'llorch-on-demand-'));
    let node: PoolManagerd | null = null;
    let orchestrator: Orchestratord | null = null;
    let sampling = true;
    let sampler: Promise<void> = Promise.resolve();
    t.after(async () => {
      sampling = false;
      await sampler;
      await orchestrator?.stop();
      await node?.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const config = join(dir, 'node.yaml');
    await writeFile(
      config,
      [
        'node_id: od-node',
        `runtime_dir: ${join(dir, 'run')}`,
        `cache_dir: ${fixture.cacheDir}`,
        'engine: { device: cpu }',
        `memory_budget_bytes: ${budget}`,
        'max_swap_wait_ms: 1500',
        'pools:',
        `  - { id: small, model: "file:${paths.small}", ctx: ${CTX}, slots: 1, load: on-demand, idle_unload_s: 60 }`,
        `  - { id: middle, model: "file:${paths.middle}", ctx: ${CTX}, slots: 1, load: on-demand, idle_unload_s: 60 }`,
        `  - { id: large, model: "file:${paths.large}", ctx: ${CTX}, slots: 1, load: on-demand, idle_unload_s: 4 }`,
        // The large model with a context no budget here holds: its KV cache alone is about 800 MB.
        `  - { id: huge, model: "file:${paths.large}", ctx: 65536, slots: 4, load: on-demand }`,
        '',
      ].join('\n'),
    );
    node = await startPoolManagerd({ LLORCH_CONFIG: config }, 120_000);
    orchestrator = await startOrchestratord({ ORCHD_POOL_MANAGERS: node.url });
    const nodePid = node.proc.child.pid ?? 0;
    const pools = async (): Promise<Map<string, PoolStatus>> => {
      const answer = await jsonRequest<{ pools: PoolStatus[] }>(`${node?.url}/v2/pools`);
      return new Map(answer.body.pools.map((p) => [p.pool_id, p]));
    };

    // Before any task: every model is listed, unloaded, with the estimate read from its file.
    const listed = await waitFor(
      'the three pools, unloaded, with their estimates',
      async () => {
        const now = await pools();
        return SIZES.every((s) => now.get(s)?.state === 'unloaded' && now.get(s)?.memory_estimate_bytes === estimate[s])
          ? now
          : undefined;
      },
      30_000,
    );
    assert.equal(listed.get('small')?.load, 'on-demand');
    assert.deepEqual(await engineModels(nodePid), [], 'no engine runs before a task needs one');
    // A reload replaces running engines: one of a pool at rest would start engines the residency does not count.
    const reload = await jsonRequest<{ code: string; message: string }>(`${node.url}/v2/pools/small/reload`, {
      method: 'POST',
      body: { model_ref: `file:${paths.middle}` },
    });
    assert.equal(reload.status, 409, JSON.stringify(reload.body));
    assert.match(reload.body.message, /loaded on demand and unloaded now.*load it first/);
    const models = await jsonRequest<{ data: { id: string; state: string; load: string }[] }>(
      `${orchestrator.url}/v1/models`,
    );
    assert.deepEqual(
      models.body.data.filter((m) => SIZES.includes(m.id as Size)).map((m) => [m.id, m.state, m.load]),
      [
        ['large', 'unloaded', 'on-demand'],
        ['middle', 'unloaded', 'on-demand'],
        ['small', 'unloaded', 'on-demand'],
      ],
    );

    // The engines alive, sampled every 20 ms for the whole test: their estimates never sum past the budget.
    const byPath = new Map(SIZES.map((s) => [paths[s], estimate[s]]));
    let peak = 0;
    let samples = 0;
    sampler = (async () => {
      while (sampling) {
        const held = (await engineModels(nodePid)).reduce((sum, file) => sum + (byPath.get(file) ?? Infinity), 0);
        peak = Math.max(peak, held);
        samples += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const run = async (size: Size, maxTokens = 8): Promise<SseEvent[]> => {
      const url = orchestrator?.url ?? '';
      const id = `od-${size}-${Math.random().toString(36).slice(2, 10)}`;
      const admitted = await jsonRequest(`${url}/v2/tasks`, {
        method: 'POST',
        body: { task_id: id, model_ref: size, prompt: 'Hello', max_tokens: maxTokens, ignore_eos: true },
      });
      assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
      const followed = await followEvents(`${url}/v2/tasks/${id}/events`, { timeoutMs: 120_000 });
      const names = followed.events.map((e) => e.event);
      assert.equal(names.filter((n) => n === 'end' || n === 'error').length, 1, summarize(followed.events));
      assert.equal(names.at(-1), 'end', `${size}: ${JSON.stringify(followed.events.at(-1))}`);
      const started = followed.events.find((e) => e.event === 'started');
      assert.equal(started?.data['pool_id'], size, `the task for ${size} ran on its own pool`);
      return followed.events;
    };

    // small, middle (both fit), small again (middle is now the least recently used), large (needs middle's room).
    // A task for a model at rest hears where its load stands before it starts.
    const cold = await run('small');
    const loading = cold.filter((e) => e.event === 'loading');
    assert.ok(loading.length > 0, `loading events before started: ${summarize(cold)}`);
    assert.ok(cold.indexOf(loading.at(-1) ?? cold[0]!) < cold.findIndex((e) => e.event === 'started'));
    assert.equal(loading[0]?.data['pool_id'], 'small');
    assert.ok(
      ['preparing', 'downloading', 'waiting_for_memory', 'starting'].includes(String(loading[0]?.data['phase'])),
      JSON.stringify(loading[0]),
    );
    await run('middle');
    let now = await pools();
    assert.deepEqual([now.get('small')?.state, now.get('middle')?.state], ['ready', 'ready']);
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // past the idle grace: both may now be unloaded
    await run('small');
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await run('large');
    now = await pools();
    assert.deepEqual(
      SIZES.map((s) => now.get(s)?.state),
      ['ready', 'unloaded', 'ready'],
      'middle, the least recently used, made room for large; small stayed',
    );
    assert.ok((now.get('large')?.load_ms ?? 0) > 0, 'the load time is measured');

    // Alternating requests while a long task holds large busy: middle cannot load beside large, and large has work,
    // so middle's tasks wait in the queue for large's memory, and are told so, until that task ends (a swap after
    // max_swap_wait_ms refuses large new work but never cuts what it runs). Every task ends; none is lost.
    const long = run('large', 400);
    await waitFor(
      'the long task running on large',
      async () => ((await pools()).get('large')?.slots_free === 0 ? true : undefined),
      30_000,
    );
    const burst = await Promise.all(
      ['small', 'middle', 'large', 'middle', 'small', 'large', 'middle'].map((s) => run(s as Size, 16)),
    );
    const longEvents = await long;
    assert.equal(longEvents.at(-1)?.data['tokens_out'], 400, 'the long task on large was not cut');
    const waiting = burst.flat().filter((e) => e.event === 'loading' && e.data['phase'] === 'waiting_for_memory');
    assert.ok(waiting.length > 0, `a task heard that its load waits for memory: ${summarize(burst.flat())}`);
    assert.match(String(waiting[0]?.data['waiting_for']), /memory held by pools with work: .*large/);

    // A model that could never fit: its task is admitted, the load fails, and it ends at once with the reason.
    const hugeId = `od-huge-${Date.now()}`;
    const hugeAdmitted = await jsonRequest(`${orchestrator.url}/v2/tasks`, {
      method: 'POST',
      body: { task_id: hugeId, model_ref: 'huge', prompt: 'Hello', max_tokens: 4 },
    });
    assert.equal(hugeAdmitted.status, 202, JSON.stringify(hugeAdmitted.body));
    const huge = await followEvents(`${orchestrator.url}/v2/tasks/${hugeId}/events`, { timeoutMs: 60_000 });
    const refusal = huge.events.at(-1);
    assert.equal(refusal?.event, 'error', summarize(huge.events));
    assert.equal(refusal.data['code'], 'POOL_UNAVAILABLE');
    assert.match(String(refusal.data['message']), /cannot be loaded: .*more than the \d+ MiB of memory_budget_bytes/);
    assert.equal((await pools()).get('huge')?.state, 'failed');

    // Idle: large (idle_unload_s 4) unloads by itself, not before 4 s without work.
    await run('large');
    const ended = Date.now();
    const nodeUrl = node.url;
    await waitFor(
      'large unloaded when idle',
      async () => ((await pools()).get('large')?.state === 'unloaded' ? true : undefined),
      15_000,
    );
    assert.ok(Date.now() - ended >= 3_900, `unloaded ${Date.now() - ended} ms after its last task`);
    // The 202 for a model at rest predicts its start with the load time measured last.
    const lastLoad = (await pools()).get('large')?.load_ms ?? 0;
    assert.ok(lastLoad > 0);
    await waitFor(
      'orchestratord to see large unloaded',
      async () => {
        const seen = await jsonRequest<{ pools: PoolStatus[] }>(`${orchestrator?.url}/v2/pools`);
        return seen.body.pools.some((p) => p.pool_id === 'large' && p.state === 'unloaded') ? true : undefined;
      },
      10_000,
    );
    const predicted = await jsonRequest<{ predicted_start_ms: number }>(`${orchestrator.url}/v2/tasks`, {
      method: 'POST',
      body: { task_id: `od-predict-${Date.now()}`, model_ref: 'large', prompt: 'Hello', max_tokens: 4 },
    });
    assert.equal(predicted.status, 202, JSON.stringify(predicted.body));
    assert.ok(predicted.body.predicted_start_ms >= lastLoad, `${predicted.body.predicted_start_ms} < ${lastLoad}`);
    const metrics = await (await fetch(`${nodeUrl}/metrics`)).text();
    assert.match(metrics, /pool_model_unloads_total\{pool_id="large",reason="idle"\} [1-9]/);
    assert.match(metrics, /pool_model_unloads_total\{pool_id="middle",reason="evicted"\} [1-9]/);
    assert.match(metrics, /pool_model_loads_total\{pool_id="large",outcome="ok"\} [1-9]/);

    sampling = false;
    await sampler;
    assert.ok(samples > 50, `sampled ${samples} times`);
    assert.ok(peak <= budget, `the engines alive held ${peak} bytes by their estimates, over the budget of ${budget}`);
    t.diagnostic(`peak ${peak} of ${budget} bytes over ${samples} samples; estimates ${JSON.stringify(estimate)}`);
  });
});

describe('llorch home with a pool loaded on demand', { timeout: 4 * 60_000 }, () => {
  test('is ready with the pool at rest, and the first chat loads it', async (t) => {
    const fixture = await testEngine();
    const { url } = await startHomeWithConfig(
      `cache_dir: ${fixture.cacheDir}\npools:\n  - { id: demo, model: demo, ctx: 1024, slots: 1, load: on-demand }\n`,
      (cleanup) => t.after(cleanup),
      120_000,
    );
    const before = await jsonRequest<{ data: { id: string; state: string }[] }>(`${url}/v1/models`);
    assert.deepEqual(
      before.body.data.map((m) => [m.id, m.state]),
      [['demo', 'unloaded']],
    );
    // A streamed chat for the model at rest: the stream opens at once and says in comments that the model loads.
    const answer = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, stream: true }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await answer.body.text();
    assert.equal(answer.statusCode, 200, text);
    assert.match(text, /^: loading demo (preparing|starting|waiting_for_memory|downloading)/m);
    assert.ok(text.indexOf(': loading') < text.indexOf('data: {'), text);
    assert.match(text, /data: \[DONE\]/);
    const after = await jsonRequest<{ data: { id: string; state: string }[] }>(`${url}/v1/models`);
    assert.deepEqual(
      after.body.data.map((m) => [m.id, m.state]),
      [['demo', 'ready']],
    );
  });
});
