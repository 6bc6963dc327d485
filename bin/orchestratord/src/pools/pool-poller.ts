import { PoolListSchema, validate, type PoolStatus } from '@llama-orch/contracts';
import type { Logger } from 'pino';
import { request, type Dispatcher } from 'undici';
import type { PoolView } from '../placement/place.ts';

interface NodeSnapshot {
  available: boolean;
  pools: PoolStatus[];
  lastError: string | null;
  /** Our own leases per pool when this report arrived: the rest of its busy slots are someone else's. */
  leasesAtReport: ReadonlyMap<string, number>;
}

/**
 * Polls every pool-managerd's GET /v2/pools. A failed or timed-out poll marks that node's pools unavailable
 * (out of placement) until its next good poll. The snapshot is desired state; the scheduler reconciles to it.
 */
export class PoolPoller {
  readonly #nodes: readonly string[];
  readonly #agent: Dispatcher;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #onChange: () => void;
  readonly #leases: (poolId: string) => number;
  readonly #snapshots = new Map<string, NodeSnapshot>();
  #timer: NodeJS.Timeout | null = null;
  #polling: Promise<void> | null = null;

  constructor(
    nodes: readonly string[],
    agent: Dispatcher,
    options: {
      intervalMs: number;
      timeoutMs: number;
      log: Logger;
      onChange: () => void;
      leases: (poolId: string) => number;
    },
  ) {
    this.#nodes = nodes;
    this.#agent = agent;
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
    this.#log = options.log;
    this.#onChange = options.onChange;
    this.#leases = options.leases;
  }

  async #pollNode(node: string): Promise<void> {
    const before = this.#snapshots.get(node);
    let next: NodeSnapshot;
    try {
      const answer = await request(`${node}/v2/pools`, {
        dispatcher: this.#agent,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const body: unknown = await answer.body.json();
      if (answer.statusCode !== 200) throw new Error(`HTTP ${answer.statusCode}`);
      const list = validate(PoolListSchema, body);
      if (!list.ok) throw new Error(`invalid pool list: ${list.message}`);
      next = {
        available: true,
        pools: list.value.pools,
        lastError: null,
        leasesAtReport: new Map(list.value.pools.map((p) => [p.pool_id, this.#leases(p.pool_id)])),
      };
    } catch (error) {
      next = {
        available: false,
        pools: before?.pools ?? [],
        lastError: (error as Error).message,
        leasesAtReport: before?.leasesAtReport ?? new Map(),
      };
    }
    if (before?.available !== next.available) {
      if (next.available) this.#log.info({ node }, 'pool-managerd reachable');
      else this.#log.warn({ node, reason: next.lastError }, 'pool-managerd unreachable; its pools leave placement');
    }
    this.#snapshots.set(node, next);
  }

  async pollOnce(): Promise<void> {
    await Promise.all(this.#nodes.map((node) => this.#pollNode(node)));
    this.#onChange();
  }

  start(): void {
    const tick = (): void => {
      if (this.#polling !== null) return;
      this.#polling = this.pollOnce().finally(() => {
        this.#polling = null;
      });
    };
    tick();
    this.#timer = setInterval(tick, this.#intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#polling;
  }

  /** Pool views with our own lease counts; the first node to report a pool id owns it. */
  views(leases: (poolId: string) => number): PoolView[] {
    const seen = new Set<string>();
    const views: PoolView[] = [];
    for (const node of this.#nodes) {
      const snapshot = this.#snapshots.get(node);
      for (const status of snapshot?.pools ?? []) {
        if (seen.has(status.pool_id)) continue;
        seen.add(status.pool_id);
        const reportedBusy = status.slots_total - status.slots_free;
        const othersBusy = Math.max(0, reportedBusy - (snapshot?.leasesAtReport.get(status.pool_id) ?? 0));
        views.push({
          nodeUrl: node,
          status,
          available: snapshot?.available ?? false,
          leases: leases(status.pool_id),
          othersBusy,
        });
      }
    }
    return views;
  }

  nodeOf(poolId: string): string | null {
    return this.views(() => 0).find((v) => v.status.pool_id === poolId)?.nodeUrl ?? null;
  }
}
