/**
 * How much orchestratord + pool-managerd add to an engine's latency. Runs a real cluster on loopback (the demo
 * model on the shared CPU engine), then the same streamed completion N times straight to llama-server and N times
 * through orchestratord's /v1/completions, and prints medians of time-to-first-token and total time.
 *
 *   npm run bench            (BENCH_RUNS=50 by default)
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { startCluster } from '../src/cluster.ts';
import { readHandoff } from '../src/provisioner-cli.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 50);

async function timeStream(url: string, body: unknown): Promise<{ firstMs: number; totalMs: number }> {
  const started = performance.now();
  const answer = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  let firstMs = -1;
  for await (const chunk of answer.body) {
    if (firstMs < 0 && (chunk as Buffer).includes('data: {')) firstMs = performance.now() - started;
  }
  return { firstMs, totalMs: performance.now() - started };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const cluster = await startCluster([[{ id: 'bench', slots: 1 }]]);
try {
  const node = cluster.nodes[0];
  if (node === undefined) throw new Error('no node');
  const status = (await request(`${node.url}/v2/pools/bench/status`).then((r) => r.body.json())) as { ready: boolean };
  if (!status.ready) throw new Error('pool not ready');
  const runtime = JSON.parse(
    node.proc
      .output()
      .split('\n')
      .find((l) => l.includes('"pool-managerd listening"')) ?? '{}',
  ) as { handoff_dir: string };
  const handoff = await readHandoff(join(runtime.handoff_dir, 'bench-r0.json'));
  if (handoff === undefined) throw new Error('no handoff');
  const prompt = { prompt: 'Once upon a time', max_tokens: 16, ignore_eos: true, stream: true };
  const direct: { firstMs: number; totalMs: number }[] = [];
  const routed: { firstMs: number; totalMs: number }[] = [];
  for (let i = 0; i < RUNS + 3; i += 1) {
    const d = await timeStream(`${handoff.url}/v1/completions`, { ...prompt, model: 'demo' });
    const r = await timeStream(`${cluster.url}/v1/completions`, { ...prompt, model: 'demo' });
    if (i >= 3) {
      direct.push(d);
      routed.push(r);
    }
  }
  const row = (name: string, xs: { firstMs: number; totalMs: number }[]) =>
    `${name.padEnd(28)} first token ${median(xs.map((x) => x.firstMs)).toFixed(1)} ms   total ${median(xs.map((x) => x.totalMs)).toFixed(1)} ms`;
  console.log(`${RUNS} streamed completions of 16 tokens each (medians, after 3 warm-ups):`);
  console.log(row('llama-server directly', direct));
  console.log(row('via orchestratord + pool-managerd', routed));
  const addedFirst = median(routed.map((x) => x.firstMs)) - median(direct.map((x) => x.firstMs));
  const addedTotal = median(routed.map((x) => x.totalMs)) - median(direct.map((x) => x.totalMs));
  console.log(
    `added: first token +${addedFirst.toFixed(1)} ms, total +${addedTotal.toFixed(1)} ms (ratio ${(median(routed.map((x) => x.totalMs)) / median(direct.map((x) => x.totalMs))).toFixed(2)})`,
  );
} finally {
  await cluster.cleanup();
}
