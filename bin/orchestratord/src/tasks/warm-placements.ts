import type { Logger } from 'pino';
import type { OrchMetrics } from '../metrics.ts';
import type { Placement, PlacementRequest, PoolView } from '../placement/place.ts';
import type { QueueEta } from './queue-eta.ts';
import type { SessionStore } from './sessions.ts';
import type { Task } from './task.ts';

/**
 * A session's turn and the pool that holds its KV cache (ORCH-4055): what placement needs to weigh waiting for that
 * pool when it is busy against the prefill elsewhere (the tokens cached, each pool's measured prefill cost, when the
 * busy pool frees a slot, how long the turn has waited already), and where each turn ran, counted and logged.
 */
export class WarmPlacements {
  readonly #sessions: SessionStore;
  readonly #eta: QueueEta;
  readonly #metrics: OrchMetrics;
  readonly #log: Logger;
  /** Tasks waiting for the busy pool that holds their session's KV cache: since when. */
  readonly #waitingSince = new Map<string, number>();

  constructor(sessions: SessionStore, eta: QueueEta, metrics: OrchMetrics, log: Logger) {
    this.#sessions = sessions;
    this.#eta = eta;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** The task's session affinity and what waiting for it is worth; nothing for `kv_hint: cold`. */
  request(task: Task): Pick<PlacementRequest, 'affinity' | 'warm'> {
    if (task.spec.hints?.kv_hint === 'cold') return {};
    const affinity = this.#sessions.affinity(task.spec.sessionId);
    const tokens = this.#sessions.warmTokens(task.spec.sessionId);
    if (affinity === undefined || tokens === null) return { affinity };
    const since = this.#waitingSince.get(task.id);
    return {
      affinity,
      warm: {
        tokens,
        prefillMs: (poolId) => this.#eta.prefillMs(poolId),
        slotFreeInMs: (poolId) => this.#eta.slotFreeInMs(poolId),
        waitedMs: since === undefined ? 0 : Date.now() - since,
      },
    };
  }

  /** One round of placement: the tasks told to wait for their session's pool start their clock. */
  waiting(placements: ReadonlyMap<string, Placement>): void {
    for (const [id, placement] of placements)
      if (placement.kind === 'wait' && placement.reason.startsWith('session affinity') && !this.#waitingSince.has(id))
        this.#waitingSince.set(id, Date.now());
  }

  /** The task starts on `pool`: count it against its session's KV cache, and log a turn that went elsewhere. */
  placed(task: Task, pool: PoolView): void {
    const waited = this.#waitingSince.has(task.id);
    this.#waitingSince.delete(task.id);
    const { affinity, warm } = this.request(task);
    if (affinity === undefined || warm === undefined) return;
    if (pool.status.pool_id === affinity) {
      this.#metrics.kvPlacements.inc({ decision: waited ? 'warm_waited' : 'warm' });
      return;
    }
    this.#metrics.kvPlacements.inc({ decision: 'cold_busy' });
    this.#log.info(
      { task_id: task.id, pool_id: pool.status.pool_id, kv_pool_id: affinity, kv_tokens: warm.tokens },
      'session turn placed away from its KV cache: its pool was busy for longer than the prefill costs',
    );
  }

  forget(taskId: string): void {
    this.#waitingSince.delete(taskId);
  }
}
