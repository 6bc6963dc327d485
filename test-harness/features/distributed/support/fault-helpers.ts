/**
 * Shared tools of faults.steps.ts, node-lifecycle.steps.ts and handoff.steps.ts: budgets, per-scenario state,
 * handoff files read and written atomically, and a short task run to its end. Registers no steps.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { handoffFileName, type Handoff, type PoolStatus } from '@llama-orch/contracts';
import { jsonRequest, type JsonAnswer } from '../../../src/http-json.ts';
import type { NetCluster, NetNode } from '../../../src/netns/index.ts';
import { followEvents, summarize } from '../../../src/sse.ts';
import type { ClusterWorld } from './world.ts';

/** How long one short task (a few tokens) may take from submission to its end. */
export const SHORT_TASK_BUDGET_MS = 60_000;
/** How long a drain or reload answer may take: the running task finishes first. */
export const CONTROL_BUDGET_MS = 180_000;
/** How long a stopped engine or pool-managerd may take to be gone. */
export const GONE_BUDGET_MS = 15_000;
/** How long pool-managerd may take to log what it did with a handoff file (it is seen within 1 s: POOL-3001). */
export const HANDOFF_SEEN_BUDGET_MS = 5_000;
/** A port nothing listens on inside a node's namespace (discard). */
export const DEAD_ENGINE_PORT = 9;

/** What a scenario of these features remembers between its steps. */
export interface FaultState {
  /** When the last fault took effect (partition, hang, a handoff removed), for the placement budgets. */
  faultAt?: number;
  /** The engine pids of each node before it was disturbed. */
  readonly pidsBefore: Map<string, number[]>;
  /** Drain and reload answers still to come, by pool. */
  readonly control: Map<string, Promise<JsonAnswer<Record<string, unknown>>>>;
  /** Handoff files taken away, by pool, to be put back. */
  readonly removed: Map<string, { file: string; text: string }>;
}
export const states = new WeakMap<ClusterWorld, FaultState>();
export function state(world: ClusterWorld): FaultState {
  let s = states.get(world);
  if (s === undefined) {
    s = { pidsBefore: new Map(), control: new Map(), removed: new Map() };
    states.set(world, s);
  }
  return s;
}

export const engines = (node: NetNode): string => join(node.runtimeDir, 'engines');
export const onePoll = (cluster: NetCluster): number => cluster.pollIntervalMs + cluster.requestTimeoutMs;
export const poolIn = (pools: readonly PoolStatus[], id: string): PoolStatus | undefined =>
  pools.find((p) => p.pool_id === id);

/** Write a file as a provisioner does: a dot-named temp file (the watcher skips it), then a rename. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = join(file, '..', `.${Date.now()}.tmp`);
  await writeFile(temp, text);
  await rename(temp, file);
}

/** The handoff file of `poolId` on `node` (replica r0, as the in-process provisioner names it). */
export async function handoffOf(
  node: NetNode,
  poolId: string,
): Promise<{ file: string; text: string; handoff: Handoff }> {
  const file = join(engines(node), handoffFileName(poolId, 'r0'));
  const text = await readFile(file, 'utf8');
  return { file, text, handoff: JSON.parse(text) as Handoff };
}

/** The node that serves `poolId`, as orchestratord's pools say. */
export async function nodeOfPool(world: ClusterWorld, poolId: string): Promise<NetNode> {
  const cluster = world.running;
  const pools = await cluster.waitForPools((all) => poolIn(all, poolId) !== undefined, `pool ${poolId} listed`, 5_000);
  return cluster.node(poolIn(pools, poolId)?.node_id ?? '');
}

/** The pool of a node with one pool (the first its handoff files name). */
export async function onlyPoolOf(node: NetNode): Promise<string> {
  const pools = (await readdir(engines(node))).filter((n) => /^[a-z0-9-]+-r0\.json$/.test(n)).sort();
  assert.ok(pools[0], `node ${node.id} has a handoff`);
  return pools[0].slice(0, -'-r0.json'.length);
}

/**
 * Run one short task (`id` is logical) to its end and say where it ran; `pin` pins it. Its own events are checked here: started on
 * some pool, exactly one terminal event, and that one an `end`.
 */
export async function runShortTask(world: ClusterWorld, id: string, pin?: string): Promise<string> {
  const cluster = world.running;
  const wire = world.wireId(id);
  const admitted = await jsonRequest<{ streams?: { sse?: string } }>(`${cluster.url}/v2/tasks`, {
    method: 'POST',
    headers: cluster.auth,
    body: {
      task_id: wire,
      model_ref: 'demo',
      prompt: 'Once upon a time',
      max_tokens: 8,
      ignore_eos: true,
      ...(pin === undefined ? {} : { placement: { mode: 'pin', pin_pool_id: pin } }),
    },
    timeoutMs: SHORT_TASK_BUDGET_MS,
  });
  assert.equal(admitted.status, 202, `task ${id}: ${JSON.stringify(admitted.body)}`);
  const { events } = await followEvents(`${cluster.url}/v2/tasks/${wire}/events`, {
    headers: cluster.auth,
    timeoutMs: SHORT_TASK_BUDGET_MS,
  });
  const terminals = events.filter((e) => e.event === 'end' || e.event === 'error');
  assert.equal(terminals.length, 1, `task ${id}: one terminal event, saw ${summarize(events)}`);
  assert.equal(events.at(-1)?.event, 'end', `task ${id} ends: ${JSON.stringify(events.at(-1))}`);
  const started = events.find((e) => e.event === 'started');
  assert.ok(started, `task ${id} started: ${summarize(events)}`);
  return String(started.data['pool_id']);
}
