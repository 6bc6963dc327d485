import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PoolStatus } from '@llama-orch/contracts';
import type { PoolView } from './placement/place.ts';
import type { TaskSpec, TaskState } from './tasks/task.ts';

/** What the gauges read of a pool view. */
export type ObservedPool = Pick<PoolView, 'status' | 'available'>;

/** What the queue-depth gauge reads of a task. */
export interface QueuedTask {
  readonly state: TaskState;
  readonly spec: Pick<TaskSpec, 'model' | 'placement'>;
}

export interface OrchMetrics {
  readonly enqueued: Counter<'priority'>;
  readonly started: Counter<'pool_id' | 'priority'>;
  readonly canceled: Counter<'reason'>;
  readonly rejected: Counter<'reason'>;
  readonly tokensIn: Counter<'pool_id'>;
  readonly tokensOut: Counter<'pool_id'>;
  readonly queueDepth: Gauge<'priority'>;
  readonly firstToken: Histogram<'pool_id' | 'priority'>;
  readonly decode: Histogram<'pool_id' | 'priority'>;
  readonly admissionShare: Gauge<'priority'>;
  readonly placements: Counter<'outcome'>;
  /** A session's turn placed on the pool holding its KV cache, after waiting for it, or elsewhere (issue 19). */
  readonly kvPlacements: Counter<'decision'>;
  // The CLOUD profile spec's names (OBS-6301..6309), beside the ones above.
  readonly admissionEnqueued: Counter<'pool_id' | 'outcome'>;
  readonly admissionRejected: Counter<'pool_id' | 'reason'>;
  readonly poolHealthChecks: Counter<'pool_id' | 'outcome'>;
  readonly poolHealthCheckDuration: Histogram<'pool_id'>;
  readonly dispatched: Counter<'pool_id' | 'outcome'>;
  readonly dispatchLatency: Histogram<'pool_id'>;
  /** ORCHD_ADMISSION_CAPACITY, so dashboards and alerts can show the queue's saturation. */
  readonly queueCapacity: Gauge;
  /**
   * What the gauges read at scrape time: the live tasks (those `queued` make `orchd_admission_queue_depth`, labelled
   * by admissionPoolLabel) and the pool views (`orchd_pools_available`).
   */
  observe(tasks: () => Iterable<QueuedTask>, pools: () => readonly ObservedPool[]): void;
}

/** The `pool_id` label of work not bound to one pool (yet): several pools could take it, or none is known. */
export const UNPLACED = 'none';

/**
 * The `pool_id` label of a task that has no pool yet: the pool it pinned, or the pool its model names (a model is
 * asked for by model ref or by pool id), or the only pool serving its model; otherwise `none`. Always a known pool
 * id or `none`, so the label set stays as bounded as the pools (client input never becomes a label value).
 */
export function admissionPoolLabel(
  spec: Pick<TaskSpec, 'model' | 'placement'>,
  pools: readonly Pick<PoolView, 'status'>[],
): string {
  const known = (id: string | undefined): id is string =>
    id !== undefined && pools.some((p) => p.status.pool_id === id);
  const pinned = spec.placement?.mode === 'pin' ? spec.placement.pin_pool_id : undefined;
  if (known(pinned)) return pinned;
  if (known(spec.model)) return spec.model;
  const serving = pools.filter((p) => p.status.model === spec.model);
  return serving.length === 1 ? (serving[0]?.status.pool_id ?? UNPLACED) : UNPLACED;
}

/** How a dispatch to pool-managerd was answered, as the `outcome` of `orchd_tasks_dispatched_total`. */
export function dispatchOutcome(
  answer:
    | { readonly kind: 'streaming' }
    | { readonly kind: 'unreachable' }
    | { readonly kind: 'refused'; readonly envelope: { readonly code: string } },
): 'ok' | 'busy' | 'refused' | 'unreachable' {
  switch (answer.kind) {
    case 'streaming':
      return 'ok';
    case 'unreachable':
      return 'unreachable';
    case 'refused':
      return answer.envelope.code === 'REPLICA_EXHAUSTED' ? 'busy' : 'refused';
  }
}

/**
 * One status poll of a node, for each pool it reported (or, when it did not answer, last reported): outcome `ready`,
 * `unready` or `unreachable`, and the poll's duration.
 */
export function countPoolPoll(
  metrics: OrchMetrics,
  snapshot: { readonly available: boolean; readonly pools: readonly PoolStatus[] },
  durationMs: number,
): void {
  for (const pool of snapshot.pools) {
    const outcome = !snapshot.available ? 'unreachable' : pool.ready ? 'ready' : 'unready';
    metrics.poolHealthChecks.inc({ pool_id: pool.pool_id, outcome });
    metrics.poolHealthCheckDuration.observe({ pool_id: pool.pool_id }, durationMs);
  }
}

/** A task that ended before it ran: today's counter by code, and the spec's by pool and code. */
export function countRejection(metrics: OrchMetrics, poolId: string, reason: string): void {
  metrics.rejected.inc({ reason });
  metrics.admissionRejected.inc({ pool_id: poolId, reason });
}

/** A request refused at admission: counted as a rejection and as an admission attempt with outcome `rejected`. */
export function countRefusal(metrics: OrchMetrics, poolId: string, reason: string): void {
  countRejection(metrics, poolId, reason);
  metrics.admissionEnqueued.inc({ pool_id: poolId, outcome: 'rejected' });
}

const MS_BUCKETS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/** The metric names of the reference metrics contract, with bounded label sets (pool ids come from config). */
export function createMetrics(registry: Registry): OrchMetrics {
  const registers = [registry];
  let source: { tasks: () => Iterable<QueuedTask>; pools: () => readonly ObservedPool[] } | null = null;
  new Gauge({
    name: 'orchd_admission_queue_depth',
    help: 'Tasks waiting in the admission queue, by the pool they are bound to (none: not bound to one pool yet)',
    labelNames: ['pool_id'],
    registers,
    collect() {
      this.reset();
      if (source === null) return;
      const pools = source.pools();
      // Every known pool (and `none`) has a series, 0 while nothing waits for it.
      const depth = new Map<string, number>([
        [UNPLACED, 0],
        ...pools.map((p): [string, number] => [p.status.pool_id, 0]),
      ]);
      // One label per model and pin (tasks of a queue class share it), counted per task: O(queued) per scrape.
      const labels = new Map<string, string>();
      for (const task of source.tasks()) {
        if (task.state !== 'queued') continue;
        const key = `${task.spec.model}\u0000${task.spec.placement?.mode === 'pin' ? (task.spec.placement.pin_pool_id ?? '') : ''}`;
        let label = labels.get(key);
        if (label === undefined) {
          label = admissionPoolLabel(task.spec, pools);
          labels.set(key, label);
        }
        depth.set(label, (depth.get(label) ?? 0) + 1);
      }
      for (const [pool_id, n] of depth) this.set({ pool_id }, n);
    },
  });
  new Gauge({
    name: 'orchd_pools_available',
    help: '1 when the pool is reachable, ready and not draining (placement may use it), else 0',
    labelNames: ['pool_id'],
    registers,
    collect() {
      this.reset();
      for (const view of source?.pools() ?? [])
        this.set(
          { pool_id: view.status.pool_id },
          view.available && view.status.ready && !view.status.draining ? 1 : 0,
        );
    },
  });
  return {
    enqueued: new Counter({
      name: 'tasks_enqueued_total',
      help: 'Tasks admitted',
      labelNames: ['priority'],
      registers,
    }),
    started: new Counter({
      name: 'tasks_started_total',
      help: 'Tasks that began on a pool',
      labelNames: ['pool_id', 'priority'],
      registers,
    }),
    canceled: new Counter({
      name: 'tasks_canceled_total',
      help: 'Tasks canceled (client, disconnect)',
      labelNames: ['reason'],
      registers,
    }),
    rejected: new Counter({
      name: 'tasks_rejected_total',
      help: 'Tasks refused or ended before they ran, by error code',
      labelNames: ['reason'],
      registers,
    }),
    tokensIn: new Counter({ name: 'tokens_in_total', help: 'Prompt tokens', labelNames: ['pool_id'], registers }),
    tokensOut: new Counter({
      name: 'tokens_out_total',
      help: 'Generated tokens sent to clients',
      labelNames: ['pool_id'],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'queue_depth',
      help: 'Tasks waiting in the admission queue',
      labelNames: ['priority'],
      registers,
    }),
    firstToken: new Histogram({
      name: 'latency_first_token_ms',
      help: 'Admission to first token',
      labelNames: ['pool_id', 'priority'],
      buckets: [50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000],
      registers,
    }),
    decode: new Histogram({
      name: 'latency_decode_ms',
      help: 'First token to the end of the answer',
      labelNames: ['pool_id', 'priority'],
      buckets: [250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000],
      registers,
    }),
    admissionShare: new Gauge({
      name: 'admission_share',
      help: 'Share of admitted tasks by priority',
      labelNames: ['priority'],
      registers,
    }),
    placements: new Counter({
      name: 'placement_decisions_total',
      help: 'Placement decisions by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    kvPlacements: new Counter({
      name: 'orchd_kv_placements_total',
      help: "Session turns by where they ran: warm (the pool of the session's KV cache), warm_waited (waited for it: sooner than the prefill elsewhere), cold_busy (it was busy: another pool)",
      labelNames: ['decision'],
      registers,
    }),
    admissionEnqueued: new Counter({
      name: 'orchd_admission_enqueued_total',
      help: 'Admission attempts by outcome: admitted (new task queued), requeued (back after a busy or failed dispatch), rejected',
      labelNames: ['pool_id', 'outcome'],
      registers,
    }),
    admissionRejected: new Counter({
      name: 'orchd_admission_rejected_total',
      help: 'Tasks refused at admission or ended before they ran, by error code',
      labelNames: ['pool_id', 'reason'],
      registers,
    }),
    poolHealthChecks: new Counter({
      name: 'orchd_pool_health_checks_total',
      help: 'Pool status polls by outcome: ready, unready (answered, not ready), unreachable (its pool-managerd did not answer)',
      labelNames: ['pool_id', 'outcome'],
      registers,
    }),
    poolHealthCheckDuration: new Histogram({
      name: 'orchd_pool_health_check_duration_ms',
      help: 'Time of the status poll of the pool’s pool-managerd',
      labelNames: ['pool_id'],
      buckets: MS_BUCKETS,
      registers,
    }),
    dispatched: new Counter({
      name: 'orchd_tasks_dispatched_total',
      help: 'Dispatches to pool-managerd by answer: ok (streaming), busy (slots taken), refused, unreachable',
      labelNames: ['pool_id', 'outcome'],
      registers,
    }),
    dispatchLatency: new Histogram({
      name: 'orchd_dispatch_latency_ms',
      help: 'Time from sending a dispatch to pool-managerd’s answer (the stream starting, or its refusal)',
      labelNames: ['pool_id'],
      buckets: MS_BUCKETS,
      registers,
    }),
    queueCapacity: new Gauge({
      name: 'orchd_admission_queue_capacity',
      help: 'How many tasks the admission queue holds at most (ORCHD_ADMISSION_CAPACITY)',
      registers,
    }),
    observe(tasks, pools) {
      source = { tasks, pools };
    },
  };
}
