/**
 * Faults under load, on loopback: three nodes (a pool-managerd each, one demo pool of two slots) and one
 * orchestratord; tasks run `width` at a time while an engine is killed (-9), another engine hangs (SIGSTOP: the
 * decode timeout ends its stream, pool-managerd kills it), and a pool-managerd hangs for a while (SIGSTOP, then
 * SIGCONT). Counted: every task's terminal events and what came after them, the attempts sent back to the queue
 * before their first token, the most requests any engine held (processing + deferred, from its /metrics) against its
 * slots, and how long each fault took to heal (its pool ready again in orchestratord).
 */
import type { PoolList } from '@llama-orch/contracts';
import { startCluster, type Cluster } from '../src/cluster.ts';
import { engineRequestsHeld } from '../src/engine-load.ts';
import { engineHandoff } from '../src/handoff-of.ts';
import { jsonRequest } from '../src/http-json.ts';
import { isAlive } from '../src/processes.ts';
import { inWaves, runTask, tally } from './tasks.ts';

export interface FaultRecord {
  readonly fault: string;
  readonly pool: string;
  readonly atTask: number;
  /** From the fault until its pool left ready in orchestratord; null: it never did. */
  readonly downMs: number | null;
  /** From the fault until its pool, having left ready, was ready again; null: not within the run. */
  readonly healedMs: number | null;
}

export interface FaultsResult {
  readonly tasks: number;
  /** Tasks in flight at once. */
  readonly width: number;
  readonly submitted: number;
  readonly admitted: number;
  /** Admitted tasks with exactly one terminal event: must equal admitted. */
  readonly exactlyOneTerminal: number;
  /** Events after a terminal event, over all tasks: must be 0. */
  readonly afterTerminal: number;
  readonly outcomes: Record<string, number>;
  /** Dispatch attempts orchestratord sent back to the queue before their first token (its log). */
  readonly requeuedBeforeFirstToken: number;
  /** The most requests one engine held at once (processing + deferred), by pool, and its slots. */
  readonly maxInFlight: Record<string, number>;
  readonly slotsPerPool: number;
  readonly faults: readonly FaultRecord[];
  readonly followErrors: readonly string[];
  readonly wallMs: number;
}

const POOLS = ['p0', 'p1', 'p2'] as const;
const SLOTS = 2;
const DECODE_TIMEOUT_MS = 2_000;
const HUNG_ENGINE_MS = 3_000;
const NODE_HANG_MS = 3_000;

/** The pools orchestratord lists as ready; null when it did not answer (which says nothing about the pools). */
async function readyPools(cluster: Cluster): Promise<Set<string> | null> {
  const answer = await jsonRequest<PoolList>(`${cluster.url}/v2/pools`, { timeoutMs: 2_000 }).catch(() => null);
  if (answer?.status !== 200) return null;
  return new Set(answer.body.pools.filter((p) => p.ready).map((p) => p.pool_id));
}

export async function measureFaults(tasks: number, width: number): Promise<FaultsResult> {
  // pool-managerd reads these from its environment (startCluster passes this process's on).
  process.env['POOL_MANAGERD_HUNG_ENGINE_MS'] = String(HUNG_ENGINE_MS);
  process.env['POOL_MANAGERD_HEALTH_INTERVAL_MS'] = '250';
  const cluster = await startCluster(
    POOLS.map((id) => [{ id, slots: SLOTS }]),
    {
      ORCHD_ADMISSION_CAPACITY: String(tasks + 10),
      ORCHD_DECODE_TIMEOUT_MS: String(DECODE_TIMEOUT_MS),
      ORCHD_POOL_POLL_INTERVAL_MS: '250',
      ORCHD_POOL_REQUEST_TIMEOUT_MS: '1000',
    },
  );
  const stopped = new Set<number>();
  const maxInFlight: Record<string, number> = Object.fromEntries(POOLS.map((p) => [p, 0]));
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await Promise.all(
        POOLS.map(async (pool, i) => {
          const node = cluster.nodes[i];
          const handoff = node ? await engineHandoff(node.proc.output(), `${pool}-r0.json`).catch(() => null) : null;
          const load = handoff === null ? null : await engineRequestsHeld(handoff.url, 300);
          if (load !== null) maxInFlight[pool] = Math.max(maxInFlight[pool] ?? 0, load);
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const faults: {
    fault: string;
    pool: string;
    atTask: number;
    at: number;
    downAt: number | null;
    healedAt: number | null;
    done: boolean;
  }[] = [];
  /** Until the pool leaves ready (within 30 s), then until it is ready again (within 120 s). */
  const watchHeal = (record: (typeof faults)[number]): void => {
    void (async () => {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        const pools = await readyPools(cluster);
        if (pools === null) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        const ready = pools.has(record.pool);
        if (!ready && record.downAt === null) record.downAt = Date.now();
        if (ready && record.downAt !== null) {
          record.healedAt = Date.now();
          break;
        }
        if (record.downAt === null && Date.now() - record.at > 30_000) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      record.done = true;
    })();
  };
  const record = (fault: string, pool: string, atTask: number): (typeof faults)[number] => {
    const entry = { fault, pool, atTask, at: Date.now(), downAt: null, healedAt: null, done: false };
    faults.push(entry);
    watchHeal(entry);
    return entry;
  };
  const inject = async (index: number): Promise<void> => {
    const at = (fraction: number): boolean => index === Math.floor(tasks * fraction);
    const engineOf = async (i: number): Promise<number> =>
      (await engineHandoff(cluster.nodes[i]?.proc.output() ?? '', `${POOLS[i] ?? ''}-r0.json`)).pid;
    if (at(0.2)) {
      process.kill(await engineOf(0), 'SIGKILL');
      record('engine kill -9', 'p0', index);
    } else if (at(0.4)) {
      const pid = await engineOf(1);
      process.kill(pid, 'SIGSTOP');
      stopped.add(pid);
      record('engine hangs (SIGSTOP)', 'p1', index);
    } else if (at(0.6)) {
      const pid = cluster.nodes[2]?.proc.child.pid ?? 0;
      process.kill(pid, 'SIGSTOP');
      stopped.add(pid);
      record(`pool-managerd hangs ${NODE_HANG_MS / 1000} s (SIGSTOP, then SIGCONT)`, 'p2', index);
      setTimeout(() => {
        process.kill(pid, 'SIGCONT');
        stopped.delete(pid);
      }, NODE_HANG_MS);
    }
  };
  const started = Date.now();
  try {
    const runs = await inWaves(
      Array.from({ length: tasks }, (_, i) => i),
      width,
      async (i) => {
        await inject(i);
        return runTask(
          cluster.url,
          { task_id: `chaos-${i}`, model_ref: 'demo', prompt: 'Hello', max_tokens: 16, ignore_eos: true },
          120_000,
        );
      },
    );
    // Let the last heal be seen.
    const healBy = Date.now() + 60_000;
    while (faults.some((f) => !f.done) && Date.now() < healBy) await new Promise((resolve) => setTimeout(resolve, 200));
    const admitted = runs.filter((r) => r.status === 202);
    const log = cluster.orchestrator.proc.output();
    return {
      tasks,
      width,
      submitted: runs.length,
      admitted: admitted.length,
      exactlyOneTerminal: admitted.filter((r) => r.terminals === 1).length,
      afterTerminal: admitted.reduce((sum, r) => sum + r.afterTerminal, 0),
      outcomes: tally(admitted.map((r) => r.outcome)),
      requeuedBeforeFirstToken: log
        .split('\n')
        .filter((l) => l.includes('before the first token') && l.includes('"chaos-')).length,
      maxInFlight,
      slotsPerPool: SLOTS,
      faults: faults.map((f) => ({
        fault: f.fault,
        pool: f.pool,
        atTask: f.atTask,
        downMs: f.downAt === null ? null : f.downAt - f.at,
        healedMs: f.healedAt === null ? null : f.healedAt - f.at,
      })),
      followErrors: admitted.flatMap((r) => (r.followError === null ? [] : [`${r.id}: ${r.followError}`])).slice(0, 5),
      wallMs: Date.now() - started,
    };
  } finally {
    sampling = false;
    await sampler;
    for (const pid of stopped) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    await cluster.cleanup();
  }
}
