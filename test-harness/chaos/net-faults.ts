/**
 * Faults under load across a real network: three nodes, each its own network namespace with its own IP on a test
 * bridge, running pool-managerd (CLOUD profile, mutual TLS) with one demo pool of two slots, and one orchestratord
 * that reaches them over that network with an API key required from clients. Tasks run `width` at a time while:
 *
 *   an engine is killed (-9);  another engine hangs (SIGSTOP: the decode timeout ends its stream, pool-managerd kills
 *   it);  a pool-managerd is killed (-9) and started again (it must adopt its running engine, not start a new one);
 *   a node is partitioned (its link down for a while);  orchestratord is restarted (SIGTERM: open streams get their
 *   terminal event first);  orchestratord crashes (-9) and is started again (open streams are cut: their clients
 *   must see the error at once, not hang).
 *
 * Clients act as clients do: a submission refused because orchestratord is down is sent again 250 ms later. Counted
 * as in faults.ts, plus what the restarts cost clients: how fast a refused submission failed, how fast a stream cut
 * by the crash failed, and whether the restarted pool-managerd kept its engine.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PoolList } from '@llama-orch/contracts';
import { jsonRequest } from '../src/http-json.ts';
import { isAlive, startProcess, stopProcess, waitFor, type RunningProcess } from '../src/processes.ts';
import { netnsUnavailable, startNetCluster, type NetCluster, type NetNode } from '../src/netns/index.ts';
import { runTask, tally, type TaskRun } from './tasks.ts';

export interface NetFaultRecord {
  readonly fault: string;
  /** The node or `orchestratord`. */
  readonly target: string;
  readonly atTask: number;
  /** From the fault until it showed (its pool left ready, or orchestratord stopped answering); null: never. */
  readonly downMs: number | null;
  /** From the fault until all was well again (its pool ready, or orchestratord answering with every pool ready). */
  readonly healedMs: number | null;
}

export interface NetFaultsResult {
  /** Tasks asked for; the run goes on past them until every fault has come and healed (`submitted`). */
  readonly tasks: number;
  readonly width: number;
  readonly nodes: number;
  readonly slotsPerPool: number;
  /** Tasks given to the clients; each is submitted until admitted (or refused for good). */
  readonly submitted: number;
  readonly admitted: number;
  /** Admitted tasks whose stream was cut by the orchestratord crash (no terminal event can reach them). */
  readonly cutByCrash: number;
  /** The slowest of those: from the kill -9 until its client saw the error. */
  readonly slowestCutMs: number | null;
  /** Admitted tasks not cut by the crash with exactly one terminal event: must equal admitted − cutByCrash. */
  readonly exactlyOneTerminal: number;
  readonly afterTerminal: number;
  readonly outcomes: Record<string, number>;
  /** Dispatch attempts orchestratord sent back to the queue before their first token (its log). */
  readonly requeuedBeforeFirstToken: number;
  /** 503 (no pool could serve now) and 429 answers, each sent again after its Retry-After. */
  readonly retriedAfter: Record<string, number>;
  /** Submissions refused while orchestratord was down, and the slowest such refusal. */
  readonly refusedWhileDown: number;
  readonly slowestRefusalMs: number | null;
  /** The most requests one engine held at once, by pool (sampled inside each node's namespace). */
  readonly maxInFlight: Record<string, number>;
  /** Requests the engines still held 30 s after the last task: must be 0 everywhere. */
  readonly heldAtEnd: Record<string, number | null>;
  /** The engine pid of the pool-managerd that was killed, before and after its restart: the same when adopted. */
  readonly adoption: { readonly node: string; readonly before: number[]; readonly after: number[] } | null;
  readonly faults: readonly NetFaultRecord[];
  /** Faults not injected because the tasks ran out first: must be 0. */
  readonly faultsNotInjected: number;
  readonly followErrors: readonly string[];
  readonly wallMs: number;
}

const NODES = ['a', 'b', 'c'] as const;
const SLOTS = 2;
const DECODE_TIMEOUT_MS = 2_000;
const HUNG_ENGINE_MS = 3_000;
const PARTITION_MS = 5_000;
const SAMPLER = fileURLToPath(new URL('./engine-sampler.ts', import.meta.url));

/** Why the distributed run cannot happen here (not root, no `ip netns`), or null. */
export async function netFaultsUnavailable(): Promise<string | null> {
  return netnsUnavailable();
}

interface Live {
  readonly fault: string;
  readonly target: string;
  readonly atTask: number;
  readonly at: number;
  downAt: number | null;
  healedAt: number | null;
  done: boolean;
}

export async function measureNetFaults(tasks: number, width: number): Promise<NetFaultsResult> {
  // pool-managerd reads this from its environment (the nodes inherit this process's).
  process.env['POOL_MANAGERD_HUNG_ENGINE_MS'] = String(HUNG_ENGINE_MS);
  const cluster = await startNetCluster({
    // Node c has the Kubernetes pod's shape (engine-provisioner beside a watch-only pool-managerd), so that its
    // pool-managerd's restart must adopt the engine; a and b the compose worker's (pool-managerd provisions).
    nodes: NODES.map((id) => ({ id, pools: [{ id, slots: SLOTS }], engines: id === 'c' ? 'sidecar' : 'in-process' })),
    orchestratordEnv: {
      ORCHD_ADMISSION_CAPACITY: String(tasks + 10),
      ORCHD_DECODE_TIMEOUT_MS: String(DECODE_TIMEOUT_MS),
      ORCHD_POOL_POLL_INTERVAL_MS: '250',
    },
  });
  const samplers = NODES.map((id) => sampleEngines(cluster.node(id)));
  const orchestratord = cluster.orchestrators[0];
  if (orchestratord === undefined) throw new Error('the cluster has no orchestratord');
  const live: Live[] = [];
  const pending: Promise<void>[] = [];
  let crashAt: number | null = null;
  /** Faults the run ended before (each waits for the one before it to heal). */
  let faultsLeft = 0;
  let adoption: NetFaultsResult['adoption'] = null;
  const refusals: number[] = [];
  /** 503 and 429 answers, each sent again after its Retry-After. */
  const busy: number[] = [];

  /** Is the target well? null: cannot tell now (orchestratord did not answer for a node's fault). */
  const well = async (target: string): Promise<boolean | null> => {
    const answer = await jsonRequest<PoolList>(`${cluster.url}/v2/pools`, {
      headers: cluster.auth,
      timeoutMs: 2_000,
    }).catch(() => null);
    const ready = answer?.status === 200 ? answer.body.pools.filter((p) => p.ready).map((p) => p.pool_id) : null;
    if (target === 'orchestratord') return ready !== null && ready.length === NODES.length;
    return ready === null ? null : ready.includes(target);
  };
  const record = (fault: string, target: string, atTask: number): Live => {
    const entry: Live = { fault, target, atTask, at: Date.now(), downAt: null, healedAt: null, done: false };
    live.push(entry);
    pending.push(
      (async () => {
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline) {
          const ok = await well(target);
          if (ok === false && entry.downAt === null) entry.downAt = Date.now();
          if (ok === true && entry.downAt !== null) {
            entry.healedAt = Date.now();
            break;
          }
          if (entry.downAt === null && Date.now() - entry.at > 30_000) break;
          await sleep(50);
        }
        entry.done = true;
      })(),
    );
    return entry;
  };
  const enginePid = async (node: NetNode): Promise<number> => {
    const [pid] = await node.enginePids();
    if (pid === undefined) throw new Error(`node ${node.id} has no engine handoff`);
    return pid;
  };
  const stopped = new Set<number>();

  /**
   * The faults in order. Each comes when its share of the tasks has started and the one before it has healed, so
   * that every heal time is the fault's own (and the cluster is never left without a pool by two at once).
   */
  const schedule: { readonly share: number; readonly inject: (index: number) => Promise<void> }[] = [
    {
      share: 0.05,
      inject: async (index) => {
        process.kill(await enginePid(cluster.node('a')), 'SIGKILL');
        record('engine kill -9', 'a', index);
      },
    },
    {
      share: 0.2,
      inject: async (index) => {
        const pid = await enginePid(cluster.node('b'));
        process.kill(pid, 'SIGSTOP');
        stopped.add(pid);
        record('engine hangs (SIGSTOP)', 'b', index);
      },
    },
    {
      share: 0.35,
      inject: async (index) => {
        const node = cluster.node('c');
        const before = await node.enginePids();
        record('pool-managerd kill -9, started again 1 s later', 'c', index);
        await node.stopPoolManagerd('SIGKILL');
        pending.push(
          (async () => {
            await sleep(1_000);
            await node.startPoolManagerd();
            await waitFor('node c ready again', async () => ((await well('c')) === true ? true : undefined), 60_000);
            adoption = { node: 'c', before, after: await node.enginePids() };
          })(),
        );
      },
    },
    {
      share: 0.5,
      inject: async (index) => {
        const node = cluster.node('a');
        await node.partition('link');
        record(`node partitioned ${PARTITION_MS / 1000} s (link down)`, 'a', index);
        pending.push(sleep(PARTITION_MS).then(() => node.heal()));
      },
    },
    {
      share: 0.65,
      inject: (index) => {
        record('orchestratord restarted (SIGTERM, then started)', 'orchestratord', index);
        pending.push(orchestratord.stop().then(() => orchestratord.start()));
        return Promise.resolve();
      },
    },
    {
      share: 0.8,
      inject: async (index) => {
        crashAt = Date.now();
        record('orchestratord crashes (kill -9, then started)', 'orchestratord', index);
        await orchestratord.kill();
        pending.push(orchestratord.start());
      },
    },
  ];
  let next = 0;
  let injecting = false;
  const inject = async (index: number): Promise<void> => {
    const fault = schedule[next];
    if (fault === undefined || injecting || index < Math.floor(tasks * fault.share)) return;
    if (live.some((f) => !f.done)) return; // the one before has not healed yet: a later task brings this one
    injecting = true;
    next += 1;
    try {
      await fault.inject(index);
    } finally {
      injecting = false;
    }
  };

  /** One client's task: submitted again while orchestratord refuses connections, then followed to its end. */
  const client = async (index: number): Promise<TaskRun> => {
    await inject(index);
    const body = { task_id: `net-${index}`, model_ref: 'demo', prompt: 'Hello', max_tokens: 16, ignore_eos: true };
    const giveUp = Date.now() + 60_000;
    for (;;) {
      const run = await runTask(cluster.url, body, 120_000, { headers: cluster.auth });
      if (Date.now() > giveUp) return run;
      if (run.status === 0) {
        refusals.push(run.endedAt - run.startedAt);
        await sleep(250);
      } else if (run.status === 503 || run.status === 429) {
        // No pool could serve it now (or the queue was full): sent again after Retry-After, as clients do.
        busy.push(run.status);
        await sleep(Math.min(5_000, Number(run.retryAfter ?? '1') * 1000));
      } else return run;
    }
  };

  const started = Date.now();
  try {
    // `tasks` at least, and on until every fault has come and healed (heals take longer on a slower machine), at
    // most three times as many.
    const runs: TaskRun[] = [];
    let issued = 0;
    const more = (): boolean =>
      issued < tasks || (issued < tasks * 3 && (next < schedule.length || live.some((f) => !f.done)));
    await Promise.all(
      Array.from({ length: width }, async () => {
        while (more()) {
          const index = issued;
          issued += 1;
          runs[index] = await client(index);
        }
      }),
    );
    const wallMs = Date.now() - started;
    if (next < schedule.length) faultsLeft = schedule.length - next;
    const healBy = Date.now() + 90_000;
    while (live.some((f) => !f.done) && Date.now() < healBy) await sleep(200);
    await Promise.allSettled(pending);
    for (const pid of stopped) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    // Every slot must be free again once the clients are done: a stream whose client or node went away must not
    // keep its engine busy (30 s: a partitioned node learns of closed streams when its link is back).
    const heldAtEnd: Record<string, number | null> = {};
    await waitFor(
      'every engine idle',
      () => {
        for (const [i, id] of NODES.entries()) heldAtEnd[id] = samplers[i]?.current() ?? null;
        return Object.values(heldAtEnd).every((held) => held === 0) ? true : undefined;
      },
      30_000,
      200,
    ).catch(() => undefined);
    const admitted = runs.filter((r) => r.status === 202);
    const cut = admitted.filter((r) => r.terminals === 0 && r.followError !== null && crashCut(r, crashAt));
    const rest = admitted.filter((r) => !cut.includes(r));
    const log = orchestratord.logs();
    return {
      tasks,
      width,
      nodes: NODES.length,
      slotsPerPool: SLOTS,
      submitted: runs.length,
      admitted: admitted.length,
      cutByCrash: cut.length,
      slowestCutMs:
        cut.length === 0 || crashAt === null ? null : Math.max(...cut.map((r) => r.endedAt - (crashAt ?? 0))),
      exactlyOneTerminal: rest.filter((r) => r.terminals === 1).length,
      afterTerminal: admitted.reduce((sum, r) => sum + r.afterTerminal, 0),
      outcomes: tally([
        ...rest.map((r) => r.outcome),
        ...cut.map(() => 'cut by the crash'),
        ...runs.filter((r) => r.status !== 202).map((r) => `not admitted (${r.status})`),
      ]),
      requeuedBeforeFirstToken: log
        .split('\n')
        .filter((l) => l.includes('before the first token') && l.includes('"net-')).length,
      retriedAfter: tally(busy.map(String)),
      refusedWhileDown: refusals.length,
      slowestRefusalMs: refusals.length === 0 ? null : Math.max(...refusals),
      maxInFlight: Object.fromEntries(NODES.map((id, i) => [id, samplers[i]?.most() ?? 0])),
      heldAtEnd,
      adoption,
      faultsNotInjected: faultsLeft,
      faults: live.map((f) => ({
        fault: f.fault,
        target: f.target,
        atTask: f.atTask,
        downMs: f.downAt === null ? null : f.downAt - f.at,
        healedMs: f.healedAt === null ? null : f.healedAt - f.at,
      })),
      followErrors: rest.flatMap((r) => (r.followError === null ? [] : [`${r.id}: ${r.followError}`])).slice(0, 5),
      wallMs,
    };
  } finally {
    for (const pid of stopped) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    await Promise.allSettled(samplers.map((s) => s.stop()));
    await cluster.stop();
  }
}

/** A stream that broke without a terminal event after the crash began (it was open when orchestratord died). */
function crashCut(run: TaskRun, crashAt: number | null): boolean {
  return crashAt !== null && run.startedAt <= crashAt && run.endedAt >= crashAt;
}

interface EngineSampler {
  /** The most requests the node's engine held at once so far. */
  most(): number;
  /** What it holds now, as last seen; null before the first sample. */
  current(): number | null;
  stop(): Promise<void>;
}

/** engine-sampler.ts inside the node's namespace, where its engines listen. */
function sampleEngines(node: NetNode): EngineSampler {
  const proc: RunningProcess = startProcess(
    'ip',
    ['netns', 'exec', node.namespace, process.execPath, SAMPLER, join(node.runtimeDir, 'engines')],
    process.env,
  );
  let read = 0;
  let most = 0;
  let current: number | null = null;
  const update = (): void => {
    const text = proc.output();
    const end = text.lastIndexOf('\n') + 1;
    for (const line of text.slice(read, end).split('\n')) {
      if (!line.startsWith('{')) continue;
      const { held } = JSON.parse(line) as { held: number };
      most = Math.max(most, held);
      current = held;
    }
    read = end;
  };
  return {
    most: () => (update(), most),
    current: () => (update(), current),
    stop: () => stopProcess(proc, 2_000),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type { NetCluster };
