/**
 * Swap cost of pools loaded on demand (issue 18), on real engines: three generated models of three sizes, each an
 * on-demand pool, under a CPU memory budget that holds one at a time.
 *
 * - Cold first token: from POST /v2/tasks for a model that is not loaded (another one is) to its first token, per
 *   size, against the same request once the model is loaded (warm).
 * - Batching: 16 tasks alternating between two models, submitted at once; wall time until every one has ended and
 *   the swaps it took, with max_swap_wait_ms 0 (a waiting load swaps the busy model out at once) and 10000 (the
 *   loaded model serves what is queued for it first).
 *
 *   node test-harness/bench/swap.ts [--rounds N] [--out DIR]     writes SWAP.md and swap.json into DIR (default here)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd, type PoolManagerd } from '../src/pool-managerd-process.ts';
import { MODEL_SIZES, sizedModels, type ModelSize } from '../src/sized-models.ts';
import { followEvents } from '../src/sse.ts';
import { writeFormatted } from '../src/write-formatted.ts';
import { machine } from './results.ts';
import { summarize, type Summary } from './stats.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, out: { type: 'string' } } });
const ROUNDS = Number(values.rounds);
const OUT = values.out ?? fileURLToPath(new URL('.', import.meta.url));
const CTX = 512;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Cluster {
  readonly node: PoolManagerd;
  readonly orchestrator: Orchestratord;
  readonly stop: () => Promise<void>;
}

async function startCluster(budget: number, maxSwapWaitMs: number, paths: Record<ModelSize, string>): Promise<Cluster> {
  const fixture = await testEngine();
  const dir = await mkdtemp(join(tmpdir(), 'llorch-swap-bench-'));
  let node: PoolManagerd | null = null;
  let orchestrator: Orchestratord | null = null;
  const stop = async (): Promise<void> => {
    await orchestrator?.stop();
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const config = join(dir, 'node.yaml');
    const pools = MODEL_SIZES.map(
      (s) => `  - { id: ${s}, model: "file:${paths[s]}", ctx: ${CTX}, slots: 1, load: on-demand, idle_unload_s: 600 }`,
    );
    await writeFile(
      config,
      [
        'node_id: swap-bench',
        `runtime_dir: ${join(dir, 'run')}`,
        `cache_dir: ${fixture.cacheDir}`,
        'engine: { device: cpu }',
        `memory_budget_bytes: ${budget}`,
        `max_swap_wait_ms: ${maxSwapWaitMs}`,
        'pools:',
        ...pools,
        '',
      ].join('\n'),
    );
    node = await startPoolManagerd({ LLORCH_CONFIG: config }, 120_000);
    orchestrator = await startOrchestratord({ ORCHD_POOL_MANAGERS: node.url });
    return { node, orchestrator, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One task; ms from the POST to its first token and to its end. */
async function task(url: string, model: ModelSize, maxTokens: number): Promise<{ firstMs: number; endMs: number }> {
  const started = performance.now();
  const id = `swap-${model}-${Math.random().toString(36).slice(2, 10)}`;
  const admitted = await jsonRequest(`${url}/v2/tasks`, {
    method: 'POST',
    body: { task_id: id, model_ref: model, prompt: 'Hello', max_tokens: maxTokens, ignore_eos: true },
  });
  if (admitted.status !== 202) throw new Error(`${model}: ${admitted.status} ${JSON.stringify(admitted.body)}`);
  let firstMs = Number.NaN;
  const followed = await followEvents(`${url}/v2/tasks/${id}/events`, {
    timeoutMs: 180_000,
    onEvent: (event) => {
      if (event.event === 'token' && Number.isNaN(firstMs)) firstMs = performance.now() - started;
    },
  });
  const last = followed.events.at(-1);
  if (last?.event !== 'end') throw new Error(`${model}: ended with ${JSON.stringify(last)}`);
  return { firstMs, endMs: performance.now() - started };
}

async function swapsOf(nodeUrl: string): Promise<number> {
  const text = await (await fetch(`${nodeUrl}/metrics`)).text();
  return [...text.matchAll(/^pool_model_unloads_total\{[^}]*reason="(?:evicted|swapped)"[^}]*\} (\d+)/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
}

const files = await sizedModels(CTX);
const paths = Object.fromEntries(MODEL_SIZES.map((s) => [s, files[s].path])) as Record<ModelSize, string>;
const largest = Math.max(...MODEL_SIZES.map((s) => files[s].estimate));
const budget = Math.floor(largest * 1.1);
const smallestTwo = MODEL_SIZES.map((s) => files[s].estimate)
  .sort((a, b) => a - b)
  .slice(0, 2)
  .reduce((a, b) => a + b, 0);
if (smallestTwo <= budget) throw new Error('the budget would hold two models');

// Cold and warm first tokens.
const cold: Record<string, number[]> = {};
const warm: Record<string, number[]> = {};
const loadMs: Record<string, number[]> = {};
{
  const cluster = await startCluster(budget, 10_000, paths);
  try {
    const url = cluster.orchestrator.url;
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const size of MODEL_SIZES) {
        const c = await task(url, size, 8);
        const w = await task(url, size, 8);
        (cold[size] ??= []).push(c.firstMs);
        (warm[size] ??= []).push(w.firstMs);
        const status = await jsonRequest<{ load_ms?: number | null }>(`${cluster.node.url}/v2/pools/${size}/status`);
        (loadMs[size] ??= []).push(status.body.load_ms ?? Number.NaN);
        log(`  ${size}: cold ${c.firstMs.toFixed(0)} ms, warm ${w.firstMs.toFixed(0)} ms to the first token`);
      }
    }
  } finally {
    await cluster.stop();
  }
}

// Alternating workload, with and without batching.
const ALTERNATING: ModelSize[] = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 'small' : 'middle'));
const batching: Record<string, { wallMs: number[]; swaps: number[] }> = {};
for (const waitMs of [0, 10_000]) {
  const key = String(waitMs);
  batching[key] = { wallMs: [], swaps: [] };
  for (let round = 0; round < Math.max(2, Math.ceil(ROUNDS / 2)); round += 1) {
    const cluster = await startCluster(budget, waitMs, paths);
    try {
      const started = performance.now();
      await Promise.all(ALTERNATING.map((size) => task(cluster.orchestrator.url, size, 32)));
      const wall = performance.now() - started;
      const swaps = await swapsOf(cluster.node.url);
      batching[key].wallMs.push(wall);
      batching[key].swaps.push(swaps);
      log(`  max_swap_wait_ms ${waitMs}: ${wall.toFixed(0)} ms, ${swaps} swaps`);
    } finally {
      await cluster.stop();
    }
  }
}

const fmt = (s: Summary): string => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const rows = MODEL_SIZES.map((size) => {
  const c = summarize(cold[size] ?? []);
  const w = summarize(warm[size] ?? []);
  return `| ${size} | ${mib(files[size].estimate)} | ${fmt(c)} | ${fmt(w)} | ${(c.median - w.median).toFixed(0)} | ${fmt(summarize(loadMs[size] ?? []))} |`;
});
const batchRows = Object.entries(batching).map(
  ([waitMs, b]) => `| ${waitMs} | ${fmt(summarize(b.wallMs))} | ${fmt(summarize(b.swaps))} |`,
);
const host = machine(fileURLToPath(new URL('../..', import.meta.url)));
const report = `# Swap cost of pools loaded on demand

- Machine: ${host.cpu}, ${host.cores} cores, ${host.ramGb} GiB RAM; Node ${host.node}; commit ${host.commit}; ${new Date().toISOString()}
- Command: \`node test-harness/bench/swap.ts --rounds ${ROUNDS}\`
- Three generated models (the demo's writer, widths 64, 256 and 384), each an on-demand CPU pool (ctx ${CTX}, one slot),
  under \`memory_budget_bytes\` ${budget} (${mib(budget)}: one model at a time). Figures: median (min–max).

## Cold first token

From \`POST /v2/tasks\` (8 tokens) for a model that is not loaded (the previous size is) to its first token; warm: the
same request next, with the model loaded. The swap includes unloading the other model (SIGTERM, its exit) and
starting this one (llama-server reading the file, \`/health\`). load_ms: the pool's own figure (load request to
healthy engine).

| model | estimate | cold first token (ms) | warm first token (ms) | swap cost (ms, medians) | load_ms |
| ----- | -------- | --------------------- | --------------------- | ----------------------- | ------- |
${rows.join('\n')}

## Batching an alternating workload

16 tasks of 32 tokens alternating small, middle, … submitted at once to a fresh stack (${batching['0']?.wallMs.length ?? 0} rounds each).

| max_swap_wait_ms | wall time (ms) | swaps |
| ---------------- | -------------- | ----- |
${batchRows.join('\n')}
`;
await writeFormatted(join(OUT, 'SWAP.md'), report);
await writeFile(
  join(OUT, 'swap.json'),
  `${JSON.stringify({ budget, files, cold, warm, loadMs, batching }, null, 2)}\n`,
);
log(`wrote ${join(OUT, 'SWAP.md')}`);
