/**
 * Admission throughput into a deep queue, and orchestratord's memory with it full. A real cluster on loopback (one
 * demo pool with 2 slots, kept busy by long generations) and orchestratord with a 10,000-task queue; 64 clients
 * post /v2/tasks as fast as they are answered until the queue is full. Prints tasks/s overall and per tenth of the
 * run (a per-admission cost that grows with the queue shows as falling rates), POST latency percentiles and
 * orchestratord's RSS idle and with the queue full.
 *
 *   npm run bench:admission        (BENCH_TASKS=10000, BENCH_CLIENTS=64)
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { startCluster } from '../src/cluster.ts';

const TASKS = Number(process.env['BENCH_TASKS'] ?? 10_000);
const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 64);

async function rssMb(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid ?? 0}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
};

const cluster = await startCluster([[{ id: 'bench', slots: 2 }]], {
  ORCHD_ADMISSION_CAPACITY: String(TASKS),
});
const agent = new Agent({ connections: CLIENTS });
try {
  const pid = cluster.orchestrator.proc.child.pid;
  const idleRss = await rssMb(pid);
  const doneAt: number[] = [];
  const latencies: number[] = [];
  let next = 0;
  let refused = 0;
  const started = performance.now();
  const client = async (): Promise<void> => {
    while (next < TASKS) {
      const i = next;
      next += 1;
      const t0 = performance.now();
      const answer = await request(`${cluster.url}/v2/tasks`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          task_id: `bench-${i}`,
          model_ref: 'demo',
          prompt: 'Once upon a time',
          max_tokens: 4096,
          ignore_eos: true,
          priority: i % 4 === 0 ? 'interactive' : 'batch',
        }),
      });
      await answer.body.dump();
      if (answer.statusCode !== 202) refused += 1;
      const t1 = performance.now();
      latencies.push(t1 - t0);
      doneAt.push(t1 - started);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, () => client()));
  const seconds = (performance.now() - started) / 1000;
  const fullRss = await rssMb(pid);
  const tenth = Math.max(1, Math.floor(TASKS / 10));
  const sortedDone = [...doneAt].sort((a, b) => a - b);
  const rates: string[] = [];
  for (let k = 0; k < 10; k += 1) {
    const from = k === 0 ? 0 : (sortedDone[k * tenth - 1] ?? 0);
    const to = sortedDone[(k + 1) * tenth - 1] ?? from;
    rates.push(String(Math.round(tenth / ((to - from) / 1000))));
  }
  console.log(`${TASKS} tasks admitted by ${CLIENTS} clients into a queue of ${TASKS} (refused: ${refused})`);
  console.log(`throughput: ${Math.round(TASKS / seconds)} tasks/s overall (${seconds.toFixed(1)} s)`);
  console.log(`per tenth of the run (tasks/s): ${rates.join(' ')}`);
  console.log(
    `POST /v2/tasks latency: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
  );
  console.log(`orchestratord RSS: ${idleRss.toFixed(0)} MB idle, ${fullRss.toFixed(0)} MB with the queue full`);
} finally {
  await agent.close();
  await cluster.cleanup();
}
