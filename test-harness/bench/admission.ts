/**
 * Admission into a deep queue: `POST /v2/tasks` → 202 throughput from a load generator in another process,
 * POST latency with 1,000 tasks queued, and orchestratord's RSS idle and with the queue full. One pool of one slot
 * holds one long task; its engine runs at nice 19, so the queue does not drain and the engine takes no CPU from
 * orchestratord or the load generator.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { engineHandoff } from '../src/handoff-of.ts';
import { cpuMs, rssMb } from '../src/proc-usage.ts';
import { startModelCluster } from './model-cluster.ts';
import { percentile } from './stats.ts';

export interface AdmissionPlan {
  readonly fill: number;
  readonly probes: number;
  readonly rest: number;
  readonly deadlineMs: number;
}

export interface AdmissionResult {
  readonly tasksPerSecond: number;
  readonly posted: number;
  readonly refused: number;
  readonly refusals: Record<string, number>;
  readonly probeQueued: number;
  readonly postP50Ms: number;
  readonly postP99Ms: number;
  readonly idleRssMb: number;
  readonly fullRssMb: number;
  readonly queued: number;
  /** orchestratord's CPU time (user + system) over the load generator's run, per task posted (µs). */
  readonly cpuPerTaskUs: number;
}

interface LoadgenOutput {
  readonly fill: { posted: number; ms: number };
  readonly rest: { posted: number; ms: number };
  readonly probeMs: number[];
  readonly refused: number;
  readonly refusals: Record<string, number>;
  readonly posted: number;
}

const LOADGEN = fileURLToPath(new URL('./admission-loadgen.ts', import.meta.url));

/** Every thread of the process at nice 19 (threads made later inherit it from theirs). */
async function niceAll(pid: number): Promise<void> {
  const threads = await readdir(`/proc/${pid}/task`);
  await promisify(execFile)('renice', ['-n', '19', '-p', ...threads]);
}

/** `orchestratorEnv` goes to orchestratord's environment (the runner's --profile). */
export async function measureAdmission(
  plan: AdmissionPlan,
  log: (line: string) => void,
  orchestratorEnv: NodeJS.ProcessEnv = {},
): Promise<AdmissionResult> {
  const total = plan.fill + plan.probes + plan.rest;
  const cluster = await startModelCluster(
    { id: 'bench', model: 'demo', ctx: 8192, slots: 1 },
    { ORCHD_ADMISSION_CAPACITY: String(total + 1), ...orchestratorEnv },
  );
  try {
    const pid = cluster.orchestrator.proc.child.pid;
    const handoff = await engineHandoff(cluster.node.proc.output(), 'bench-r0.json');
    await niceAll(handoff.pid);
    const idleRssMb = await rssMb(pid);
    const hold = await request(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task_id: 'hold', model_ref: 'demo', prompt: 'Hold', max_tokens: 8000, ignore_eos: true }),
    });
    await hold.body.dump();
    if (hold.statusCode !== 202) throw new Error(`the holding task was refused: ${hold.statusCode}`);
    const cpuBefore = await cpuMs(pid);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [LOADGEN, JSON.stringify({ url: cluster.url, connections: 64, ...plan })],
      { maxBuffer: 64 << 20, timeout: plan.deadlineMs + 120_000 },
    );
    const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as LoadgenOutput;
    const fullRssMb = await rssMb(pid);
    const cpuAfter = await cpuMs(pid);
    const bursts = out.fill.posted + out.rest.posted;
    const result: AdmissionResult = {
      tasksPerSecond: bursts / ((out.fill.ms + out.rest.ms) / 1000),
      posted: out.posted,
      refused: out.refused,
      refusals: out.refusals,
      probeQueued: out.fill.posted,
      postP50Ms: percentile(out.probeMs, 50),
      postP99Ms: percentile(out.probeMs, 99),
      idleRssMb,
      fullRssMb,
      queued: out.posted - out.refused,
      cpuPerTaskUs: ((cpuAfter - cpuBefore) * 1000) / out.posted,
    };
    log(
      `  ${Math.round(result.tasksPerSecond)} tasks/s (${result.posted} posted, ${result.refused} refused` +
        `${result.refused > 0 ? ` ${JSON.stringify(result.refusals)}` : ''}); ` +
        `POST p50 ${result.postP50Ms.toFixed(2)} ms, p99 ${result.postP99Ms.toFixed(2)} ms at ${result.probeQueued} queued; ` +
        `RSS ${idleRssMb.toFixed(0)} MB idle, ${fullRssMb.toFixed(0)} MB with ${result.queued} queued; ` +
        `orchestratord CPU ${result.cpuPerTaskUs.toFixed(0)} µs per task`,
    );
    return result;
  } finally {
    await cluster.cleanup();
  }
}
