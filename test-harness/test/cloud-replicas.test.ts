/**
 * Several orchestratord replicas over several pool-managerds (CLOUD, ARCHITECTURE §6 invariant 11): pool-managerd is
 * the only authority on slots. A replica that loses the race for a slot gets pool-managerd's busy answer and puts
 * the task back in its queue; nothing fails for "busy", and no engine ever holds more requests than its slots —
 * judged by the engines' own /slots and /metrics, sampled while the tasks run.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AdmissionResponse, Handoff, PoolList } from '@llama-orch/contracts';
import { request } from 'undici';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import type { PoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize, within } from '../src/sse.ts';

const TASKS = 60;
const SLOTS = 2;

/** The engines a pool-managerd runs, from the handoff files in the directory it says it watches. */
async function enginesOf(node: PoolManagerd): Promise<Handoff[]> {
  const line = node.proc
    .output()
    .split('\n')
    .find((l) => l.includes('"pool-managerd listening"'));
  const dir = (JSON.parse(line ?? '{}') as { handoff_dir?: string }).handoff_dir;
  assert.ok(dir, 'pool-managerd names its handoff directory');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as Handoff));
}

interface EngineLoad {
  samples: number;
  /** Most slots an engine's /slots showed processing at once. */
  maxProcessing: number;
  /** Most requests its /metrics showed deferred (queued inside the engine, past its slots). */
  maxDeferred: number;
}

/** One look at an engine: slots processing (from /slots) and requests deferred (from /metrics). */
async function sample(engine: Handoff): Promise<{ processing: number; deferred: number }> {
  const signal = AbortSignal.timeout(5_000);
  const [slots, metrics] = await Promise.all([
    request(`${engine.url}/slots`, { signal }).then((r) => r.body.json() as Promise<{ is_processing: boolean }[]>),
    request(`${engine.url}/metrics`, { signal }).then((r) => r.body.text()),
  ]);
  const gauge = (name: string): number =>
    Number(new RegExp(`^llamacpp:${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  return {
    processing: Math.max(slots.filter((s) => s.is_processing).length, gauge('requests_processing')),
    deferred: gauge('requests_deferred'),
  };
}

/** Sample every engine until `stop` aborts. */
async function watchEngines(engines: readonly Handoff[], stop: AbortSignal): Promise<Map<string, EngineLoad>> {
  const loads = new Map(engines.map((e) => [e.url, { samples: 0, maxProcessing: 0, maxDeferred: 0 }]));
  while (!stop.aborted) {
    await Promise.all(
      engines.map(async (engine) => {
        const seen = await sample(engine);
        const load = loads.get(engine.url);
        if (load === undefined) return;
        load.samples += 1;
        load.maxProcessing = Math.max(load.maxProcessing, seen.processing);
        assert.ok(!Number.isNaN(seen.deferred), 'the engine reports llamacpp:requests_deferred');
        load.maxDeferred = Math.max(load.maxDeferred, seen.deferred);
      }),
    );
    await sleep(20);
  }
  return loads;
}

const dispatchedOk = async (node: PoolManagerd): Promise<number> => {
  const text = await request(`${node.url}/metrics`).then((r) => r.body.text());
  return [...text.matchAll(/^pool_dispatch_total\{[^}]*outcome="ok"[^}]*\} (\d+)$/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
};

describe('several orchestratord replicas over several pool-managerds', { timeout: 20 * 60_000 }, () => {
  test('3 replicas × 2 pool-managerds × 60 tasks: every task ends, none fails for busy, no engine holds more than its slots', async (t) => {
    const cluster = await startCluster([[{ id: 'pa', slots: SLOTS }], [{ id: 'pb', slots: SLOTS }]]);
    t.after(cluster.cleanup);
    const managers = cluster.nodes.map((n) => n.url).join(',');
    const replicas: Orchestratord[] = [cluster.orchestrator];
    for (let i = 0; i < 2; i += 1) {
      const replica = await startOrchestratord({ ORCHD_POOL_MANAGERS: managers });
      t.after(replica.stop);
      replicas.push(replica);
    }
    for (const replica of replicas)
      await waitFor('every replica to see both pools ready', async () => {
        const pools = (await jsonRequest<PoolList>(`${replica.url}/v2/pools`)).body.pools;
        return pools.filter((p) => p.ready).length === 2 ? true : undefined;
      });
    const engines = (await Promise.all(cluster.nodes.map(enginesOf))).flat();
    assert.equal(engines.length, 2);
    assert.ok(engines.every((e) => e.slots_total === SLOTS));

    const stopWatching = new AbortController();
    const watching = watchEngines(engines, stopWatching.signal);
    watching.catch(() => undefined); // a failed sample is reported where it is awaited, below
    t.after(() => stopWatching.abort());
    const started = Date.now();
    const outcomes = await within(`${TASKS} tasks on 3 replicas to end`, 180_000, () =>
      Promise.all(
        Array.from({ length: TASKS }, async (_, i) => {
          const url = replicas[i % replicas.length]?.url ?? '';
          const admitted = await jsonRequest<AdmissionResponse>(`${url}/v2/tasks`, {
            method: 'POST',
            body: { task_id: `r-${i}`, model_ref: 'demo', prompt: 'Go on:', max_tokens: 12, ignore_eos: true },
          });
          assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
          return followEvents(`${url}/v2/tasks/r-${i}/events`, { timeoutMs: 170_000 });
        }),
      ),
    );
    const elapsedMs = Date.now() - started;
    stopWatching.abort();
    const loads = await watching;

    const ends = outcomes.filter((o) => o.events.at(-1)?.event === 'end');
    const failed = outcomes.filter((o) => o.events.at(-1)?.event !== 'end').map((o) => summarize(o.events));
    assert.deepEqual(failed, [], 'every task ends with end');
    assert.equal(ends.length, TASKS);
    assert.ok(
      outcomes.every((o) => o.events.every((e) => e.event !== 'error')),
      'no POOL_UNAVAILABLE, no REPLICA_EXHAUSTED',
    );
    const busy = replicas
      .flatMap((r) => r.proc.output().split('\n'))
      .filter((l) => l.includes('dispatch refused before the first token') && l.includes('REPLICA_EXHAUSTED')).length;
    assert.ok(busy > 0, 'the replicas did contend for slots (pool-managerd answered busy)');
    for (const [url, load] of loads) {
      assert.ok(load.samples >= 5, `${url} sampled throughout (${load.samples} samples)`);
      assert.equal(load.maxDeferred, 0, `${url}: the engine never deferred a request (never past its slots)`);
      assert.ok(load.maxProcessing <= SLOTS, `${url}: at most ${SLOTS} requests processing`);
    }
    assert.ok(
      [...loads.values()].some((l) => l.maxProcessing === SLOTS),
      'the engines were driven to their slot count',
    );
    const ok = (await Promise.all(cluster.nodes.map(dispatchedOk))).reduce((a, b) => a + b, 0);
    assert.equal(ok, TASKS, 'each task ran exactly once');
    t.diagnostic(
      `${TASKS} tasks in ${elapsedMs} ms; ${busy} busy answers re-queued; samples ${[...loads.values()]
        .map((l) => `${l.samples} (peak ${l.maxProcessing})`)
        .join(', ')}`,
    );
  });
});
