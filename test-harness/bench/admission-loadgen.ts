/**
 * The admission load generator, run as its own process so that it does not share orchestratord's event loop:
 * fills the queue with `fill` tasks over `connections` connections, times `probes` tasks one at a time (POST →
 * 202 latency with the queue that deep), then posts `rest` more. Prints one JSON line with what it saw.
 *
 *   node admission-loadgen.ts '{"url":"http://127.0.0.1:1234","fill":1000,"probes":500,"rest":8500,"connections":64}'
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

interface Plan {
  readonly url: string;
  readonly fill: number;
  readonly probes: number;
  readonly rest: number;
  readonly connections: number;
  readonly deadlineMs: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
const pool = new Pool(plan.url, { connections: plan.connections });
let next = 0;
let refused = 0;
const refusals = new Map<string, number>();
/** The first refusal's message of each code, so that a run with refusals says why. */
const reasons = new Map<string, string>();

async function post(): Promise<void> {
  const i = next;
  next += 1;
  const answer = await pool.request({
    path: '/v2/tasks',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      task_id: `bench-${i}`,
      model_ref: 'demo',
      prompt: 'Once upon a time',
      max_tokens: 8000,
      ignore_eos: true,
      priority: i % 4 === 0 ? 'interactive' : 'batch',
    }),
  });
  const text = await answer.body.text();
  if (answer.statusCode !== 202) {
    refused += 1;
    const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? String(answer.statusCode);
    refusals.set(code, (refusals.get(code) ?? 0) + 1);
    if (!reasons.has(code)) reasons.set(code, /"message":"((?:[^"\\]|\\.)*)"/.exec(text)?.[1] ?? text.slice(0, 200));
  }
}

/** `count` posts over every connection; the time they took, unless the deadline cut them short. */
async function burst(count: number, deadline: number): Promise<{ posted: number; ms: number }> {
  const started = performance.now();
  const stopAt = next + count;
  const worker = async (): Promise<void> => {
    while (next < stopAt && performance.now() < deadline) await post();
  };
  const before = next;
  await Promise.all(Array.from({ length: plan.connections }, () => worker()));
  return { posted: next - before, ms: performance.now() - started };
}

const cpuStart = process.cpuUsage();
const deadline = performance.now() + plan.deadlineMs;
const fill = await burst(plan.fill, deadline);
const probeMs: number[] = [];
for (let i = 0; i < plan.probes && performance.now() < deadline; i += 1) {
  const t0 = performance.now();
  await post();
  probeMs.push(performance.now() - t0);
}
const rest = await burst(plan.rest, deadline);
await pool.close();
const cpu = process.cpuUsage(cpuStart);
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write(
  `${JSON.stringify({ fill, rest, probeMs, refused, refusals: Object.fromEntries(refusals), reasons: Object.fromEntries(reasons), posted: next, cpuMs })}\n`,
);
