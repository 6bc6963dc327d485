import { Periodic, type LifecycleLog } from '@llama-orch/lifecycle';
import type { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import type { PoolStatus } from '@llama-orch/contracts';
import { countPoolPoll, type OrchMetrics } from '../metrics.ts';
import type { PoolView } from '../placement/place.ts';
import type { SlotLedger } from '../slots/slot-ledger.ts';

interface NodeSnapshot {
  readonly available: boolean;
  readonly pools: readonly PoolStatus[];
  readonly lastError: string | null;
}

/**
 * Polls every pool-managerd's GET /v2/pools. A failed or timed-out poll marks that node's pools unavailable
 * (out of placement) until its next good poll. The snapshot is desired state; the scheduler reconciles to it.
 */
export class PoolPoller {
  readonly #nodes: readonly string[];
  readonly #client: PoolManagerdClient;
  readonly #ledger: SlotLedger;
  readonly #log: LifecycleLog;
  readonly #onChange: () => void;
  readonly #metrics: OrchMetrics | undefined;
  readonly #snapshots = new Map<string, NodeSnapshot>();
  readonly #loop: Periodic;

  constructor(
    nodes: readonly string[],
    client: PoolManagerdClient,
    ledger: SlotLedger,
    options: { intervalMs: number; log: LifecycleLog; onChange: () => void; metrics?: OrchMetrics },
  ) {
    this.#nodes = nodes;
    this.#client = client;
    this.#ledger = ledger;
    this.#log = options.log;
    this.#onChange = options.onChange;
    this.#metrics = options.metrics;
    this.#loop = new Periodic({
      name: 'pool poll',
      intervalMs: options.intervalMs,
      tick: () => this.pollOnce(),
      log: options.log,
    });
  }

  async #pollNode(node: string): Promise<void> {
    const before = this.#snapshots.get(node);
    const began = performance.now();
    const answer = await this.#client.listPools(node);
    const next: NodeSnapshot =
      answer.kind === 'listed'
        ? { available: true, pools: answer.pools, lastError: null }
        : { available: false, pools: before?.pools ?? [], lastError: answer.reason };
    if (answer.kind === 'listed')
      for (const pool of answer.pools) this.#ledger.observe(pool.pool_id, pool.slots_total, pool.slots_free);
    if (before?.available !== next.available) {
      if (next.available) this.#log.info({ node }, 'pool-managerd reachable');
      else this.#log.warn({ node, reason: next.lastError }, 'pool-managerd unreachable; its pools leave placement');
    }
    this.#snapshots.set(node, next);
    if (this.#metrics) countPoolPoll(this.#metrics, next, performance.now() - began);
  }

  async pollOnce(): Promise<void> {
    await Promise.all(this.#nodes.map((node) => this.#pollNode(node)));
    this.#onChange();
  }

  /** Poll now, then every interval. */
  start(): Promise<void> {
    return this.#loop.start();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  /**
   * A dispatch to a pool was refused or failed before its first token: until the node's next poll says otherwise,
   * treat the pool as `busy` (its slots are someone else's) or `down` (coming back, maybe: it waits as starting).
   */
  distrust(poolId: string, how: 'busy' | 'down'): void {
    for (const [node, snapshot] of this.#snapshots) {
      const pool = snapshot.pools.find((p) => p.pool_id === poolId);
      if (pool === undefined) continue;
      if (how === 'busy') {
        this.#ledger.observe(poolId, pool.slots_total, 0);
        return;
      }
      const down: PoolStatus = { ...pool, state: 'starting', ready: false };
      this.#snapshots.set(node, { ...snapshot, pools: snapshot.pools.map((p) => (p === pool ? down : p)) });
      void this.#loop.trigger();
      return;
    }
  }

  /** Pool views with our own lease counts; the first node to report a pool id owns it. */
  views(): PoolView[] {
    const seen = new Set<string>();
    const views: PoolView[] = [];
    for (const node of this.#nodes) {
      const snapshot = this.#snapshots.get(node);
      for (const status of snapshot?.pools ?? []) {
        if (seen.has(status.pool_id)) continue;
        seen.add(status.pool_id);
        views.push({
          nodeUrl: node,
          status,
          available: snapshot?.available ?? false,
          leases: this.#ledger.held(status.pool_id),
          othersBusy: this.#ledger.others(status.pool_id),
        });
      }
    }
    return views;
  }

  nodeOf(poolId: string): string | null {
    return this.views().find((v) => v.status.pool_id === poolId)?.nodeUrl ?? null;
  }
}
