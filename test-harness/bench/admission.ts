/**
 * Admission into a deep queue: `POST /v2/tasks` → 202 throughput from a load generator in another process,
 * POST latency with 1,000 tasks queued, and orchestratord's RSS idle and with the queue full. One pool of one slot
 * holds one long task; its engine runs at nice 19, so the queue does not drain and the engine takes no CPU from
 * orchestratord or the load generator. The same load then goes to the floor: a bare `node:http` server that only
 * parses and keeps each body (floor-proc.ts `admit`), run beside the same cluster, so both see the same machine.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { engineHandoff } from '../src/handoff-of.ts';
import { freePort } from '../src/free-port.ts';
import { cpuMs, rssMb } from '../src/proc-usage.ts';
import { stopProcess } from '../src/processes.ts';
import { startFloorProcess } from './floor.ts';
import { startModelCluster } from './model-cluster.ts';
import { percentile } from './stats.ts';

export interface AdmissionPlan {
  readonly fill: number;
  readonly probes: number;
  readonly rest: number;
  readonly deadlineMs: number;
}

/** One server under the load generator. */
export interface AdmissionRun {
  readonly tasksPerSecond: number;
  readonly posted: number;
  readonly refused: number;
  readonly refusals: Record<string, number>;
  /** The first refusal's message of each code. */
  readonly reasons: Record<string, string>;
  readonly probeQueued: number;
  readonly postP50Ms: number;
  readonly postP99Ms: number;
  /** The server's CPU time (user + system) over the load generator's run, per task posted (µs). */
  readonly cpuPerTaskUs: number;
  /** The load generator's own CPU time per task posted (µs). */
  readonly loadgenCpuPerTaskUs: number;
}

export interface AdmissionResult extends AdmissionRun {
  readonly idleRssMb: number;
  readonly fullRssMb: number;
  readonly queued: number;
  /** The same load against a bare node:http server that parses and keeps each task: what this machine allows. */
  readonly floor: AdmissionRun;
}

interface LoadgenOutput {
  readonly fill: { posted: number; ms: number };
  readonly rest: { posted: number; ms: number };
  readonly probeMs: number[];
  readonly refused: number;
  readonly refusals: Record<string, number>;
  readonly reasons: Record<string, string>;
  readonly posted: number;
  readonly cpuMs: number;
}

const LOADGEN = fileURLToPath(new URL('./admission-loadgen.ts', import.meta.url));

/** Every thread of the process at nice 19 (threads made later inherit it from theirs). */
async function niceAll(pid: number): Promise<void> {
  const threads = await readdir(`/proc/${pid}/task`);
  await promisify(execFile)('renice', ['-n', '19', '-p', ...threads]);
}

/** The load generator's run against `url`, with the CPU the server (`pid`) spent over it. */
async function load(url: string, pid: number, plan: AdmissionPlan): Promise<AdmissionRun> {
  const cpuBefore = await cpuMs(pid);
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [LOADGEN, JSON.stringify({ url, connections: 64, ...plan })],
    { maxBuffer: 64 << 20, timeout: plan.deadlineMs + 120_000 },
  );
  const cpuAfter = await cpuMs(pid);
  const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as LoadgenOutput;
  return {
    tasksPerSecond: (out.fill.posted + out.rest.posted) / ((out.fill.ms + out.rest.ms) / 1000),
    posted: out.posted,
    refused: out.refused,
    refusals: out.refusals,
    reasons: out.reasons,
    probeQueued: out.fill.posted,
    postP50Ms: percentile(out.probeMs, 50),
    postP99Ms: percentile(out.probeMs, 99),
    cpuPerTaskUs: ((cpuAfter - cpuBefore) * 1000) / out.posted,
    loadgenCpuPerTaskUs: (out.cpuMs * 1000) / out.posted,
  };
}

const summary = (run: AdmissionRun): string =>
  `${Math.round(run.tasksPerSecond)} tasks/s (${run.posted} posted, ${run.refused} refused` +
  `${run.refused > 0 ? ` ${JSON.stringify(run.refusals)}: ${JSON.stringify(run.reasons)}` : ''}); ` +
  `POST p50 ${run.postP50Ms.toFixed(2)} ms, p99 ${run.postP99Ms.toFixed(2)} ms at ${run.probeQueued} queued; ` +
  `CPU per task: server ${run.cpuPerTaskUs.toFixed(0)} µs, load generator ${run.loadgenCpuPerTaskUs.toFixed(0)} µs`;

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
    const pid = cluster.orchestrator.proc.child.pid ?? 0;
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
    const run = await load(cluster.url, pid, plan);
    const fullRssMb = await rssMb(pid);
    log(`  orchestratord: ${summary(run)}`);
    log(
      `  orchestratord RSS ${idleRssMb.toFixed(0)} MB idle, ${fullRssMb.toFixed(0)} MB with ${run.posted - run.refused} queued`,
    );
    const port = await freePort();
    const bare = await startFloorProcess(['admit', String(port)]);
    let floor: AdmissionRun;
    try {
      floor = await load(`http://127.0.0.1:${port}`, bare.child.pid ?? 0, plan);
    } finally {
      await stopProcess(bare);
    }
    log(`  bare node:http: ${summary(floor)}`);
    return { ...run, idleRssMb, fullRssMb, queued: run.posted - run.refused, floor };
  } finally {
    await cluster.cleanup();
  }
}
