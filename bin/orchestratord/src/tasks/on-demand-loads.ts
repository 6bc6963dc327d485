import { poolKindOf } from '@llama-orch/contracts';
import type { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import type { Logger } from 'pino';
import { servesModel, type Placement, type PoolView } from '../placement/place.ts';
import type { PoolPoller } from '../pools/pool-poller.ts';
import type { Task } from './task.ts';

/**
 * A pool at rest that queued work needs is asked to load at most this often (the ask is idempotent: pool-managerd
 * answers where the pool stands). Asked again soon after it was swapped out, so that max_swap_wait_ms, counted from
 * pool-managerd's load request, bounds the wait of the work queued for it.
 */
const LOAD_ASK_MS = 250;
/**
 * How often, and how long at most, the nodes are polled while a pool it asked for loads: often at first (an engine
 * starts in well under a second), then at a slower pace (a download of gigabytes takes minutes).
 */
const LOAD_FOLLOW_POLL_MS = 50;
const LOAD_FOLLOW_SLOW_AFTER_MS = 10_000;
const LOAD_FOLLOW_SLOW_POLL_MS = 500;
const LOAD_FOLLOW_MS = 10 * 60_000;
/** Queued tasks are matched with loading pools at most this often; each gets a `loading` event at most this often. */
const LOADING_SCAN_MS = 200;
const LOADING_EVENT_MS = 500;

export interface OnDemandLoadsOptions {
  readonly client: PoolManagerdClient;
  readonly poller: PoolPoller;
  readonly log: Logger;
  /** The live tasks (queued ones get `loading` events). */
  readonly tasks: () => Iterable<Task>;
  readonly stopped: () => boolean;
}

/**
 * orchestratord's side of pools loaded on demand (ORCH-4050): asks pool-managerd to load the pool a queued task
 * waits for, polls often while it loads, and tells the waiting tasks where the load stands (`loading` events).
 */
export class OnDemandLoads {
  readonly #o: OnDemandLoadsOptions;
  /** Pools this orchestratord asked to load, and when (asked again after LOAD_ASK_MS). */
  readonly #asked = new Map<string, number>();
  /** The last `loading` event each queued task got (its content and when), and when queued tasks were last scanned. */
  readonly #announced = new WeakMap<Task, { key: string; at: number }>();
  #announcedAt = 0;
  /** Pools whose load is being followed (one loop each, however often it is asked for). */
  readonly #following = new Set<string>();

  constructor(options: OnDemandLoadsOptions) {
    this.#o = options;
  }

  /** Queue heads waiting for a pool loaded on demand that is at rest: ask its pool-managerd to load it. */
  ask(placements: ReadonlyMap<string, Placement>): void {
    const now = Date.now();
    for (const placement of placements.values()) {
      if (placement.kind !== 'wait' || placement.load === undefined) continue;
      const { pool_id: poolId } = placement.load.status;
      if (now - (this.#asked.get(poolId) ?? 0) < LOAD_ASK_MS) continue;
      this.#asked.set(poolId, now);
      const nodeUrl = placement.load.nodeUrl;
      this.#o.log.info({ pool_id: poolId, node: nodeUrl }, 'asking for a pool loaded on demand');
      void this.#o.client.control(nodeUrl, poolId, 'load', '{}', `load-${poolId}-${now}`).then((answer) => {
        if (answer.kind === 'unreachable' || answer.status >= 300)
          this.#o.log.warn(
            { pool_id: poolId, node: nodeUrl, answer: answer.kind === 'unreachable' ? answer.reason : answer.body },
            'the load of a pool was refused',
          );
        else if (!this.#following.has(poolId)) {
          this.#following.add(poolId);
          this.#follow(poolId, now + LOAD_FOLLOW_MS);
        }
      });
    }
  }

  /**
   * Queued tasks waiting for a pool that loads get a `loading` event with where the load stands: when it changes, at
   * most every LOADING_EVENT_MS per task (the elapsed time alone is no change).
   */
  announce(views: readonly PoolView[]): void {
    const now = Date.now();
    if (now - this.#announcedAt < LOADING_SCAN_MS) return;
    this.#announcedAt = now;
    const loading = views.filter((v) => v.available && v.status.loading);
    if (loading.length === 0) return;
    for (const task of this.#o.tasks()) {
      if (task.state !== 'queued') continue;
      const pool = loading.find((v) => servesModel(v, task.spec.model) && poolKindOf(v.status) === task.kind);
      const progress = pool?.status.loading;
      if (pool === undefined || progress === undefined || progress === null) continue;
      const key = `${pool.status.pool_id} ${progress.phase} ${progress.bytes_done ?? ''} ${progress.waiting_for ?? ''}`;
      const last = this.#announced.get(task);
      if (last !== undefined && (last.key === key || now - last.at < LOADING_EVENT_MS)) continue;
      this.#announced.set(task, { key, at: now });
      task.emit({ event: 'loading', data: { pool_id: pool.status.pool_id, ...progress } });
    }
  }

  /** While a pool it asked for loads, poll its state often: the queued tasks start as soon as it is ready. */
  #follow(poolId: string, until: number): void {
    const state = this.#o.poller.views().find((v) => v.status.pool_id === poolId)?.status.state;
    const settled = state === 'ready' || state === 'failed' || state === 'offline';
    if (this.#o.stopped() || Date.now() > until || (settled && Date.now() - (this.#asked.get(poolId) ?? 0) > 500)) {
      this.#following.delete(poolId);
      return;
    }
    this.#o.poller.refreshSoon();
    const following = Date.now() - (until - LOAD_FOLLOW_MS);
    const next = following < LOAD_FOLLOW_SLOW_AFTER_MS ? LOAD_FOLLOW_POLL_MS : LOAD_FOLLOW_SLOW_POLL_MS;
    setTimeout(() => this.#follow(poolId, until), next).unref();
  }
}
