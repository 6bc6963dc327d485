import { PoolListSchema, validate, type PoolStatus } from '@llama-orch/contracts';
import type { Logger } from 'pino';
import { request, type Dispatcher } from 'undici';
import type { PoolView } from '../placement/place.ts';

interface NodeSnapshot {
  available: boolean;
  pools: PoolStatus[];
  lastError: string | null;
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
  readonly #snapshots = new Map<string, NodeSnapshot>();
  #timer: NodeJS.Timeout | null = null;
  #polling: Promise<void> | null = null;

  constructor(
    nodes: readonly string[],
    agent: Dispatcher,
    intervalMs: number,
    timeoutMs: number,
    log: Logger,
    onChange: () => void,
  ) {
    this.#nodes = nodes;
    this.#agent = agent;
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#log = log;
    this.#onChange = onChange;
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
      next = { available: true, pools: list.value.pools, lastError: null };
    } catch (error) {
      next = { available: false, pools: before?.pools ?? [], lastError: (error as Error).message };
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
        views.push({ nodeUrl: node, status, available: snapshot?.available ?? false, leases: leases(status.pool_id) });
      }
    }
    return views;
  }

  nodeOf(poolId: string): string | null {
    return this.views(() => 0).find((v) => v.status.pool_id === poolId)?.nodeUrl ?? null;
  }
}
