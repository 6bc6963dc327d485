import { Periodic, type LifecycleLog } from '@llama-orch/lifecycle';
import type { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import type { PoolStatus } from '@llama-orch/contracts';
import { countPoolPoll, type OrchMetrics } from '../metrics.ts';
import type { PoolView } from '../placement/place.ts';
import type { SlotLedger } from '../slots/slot-ledger.ts';
import { nodeIdOf, nodeOwners, usedAddress, type NodeSnapshot } from './node-identity.ts';

/** Failed polls in a row after which a node is lost: the streams through it that carry nothing are cut. */
export const LOST_AFTER_FAILED_POLLS = 2;

/**
 * Polls every pool-managerd's GET /v2/pools. A failed or timed-out poll marks that node's pools unavailable
 * (out of placement) until its next good poll. The node set may change while it runs (discovery): a node that
 * appears is polled at once, one that vanishes leaves placement at once. The snapshot is desired state; the
 * scheduler reconciles to it.
 */
export class PoolPoller {
  #nodes: readonly string[];
  readonly #client: PoolManagerdClient;
  readonly #ledger: SlotLedger;
  readonly #log: LifecycleLog;
  readonly #onChange: () => void;
  readonly #onLost: (node: string, reason: string) => void;
  readonly #metrics: OrchMetrics | undefined;
  readonly #snapshots = new Map<string, NodeSnapshot>();
  /** Addresses already reported as a second address of a node id (warned once each). */
  readonly #duplicates = new Set<string>();
  readonly #loop: Periodic;
  readonly #intervalMs: number;
  /** The poll in flight per node: a node slow to answer is not asked again until it has answered or timed out. */
  readonly #polling = new Map<string, Promise<void>>();
  /** Polls each node has failed since it last answered. */
  readonly #failedInARow = new Map<string, number>();

  constructor(
    nodes: readonly string[],
    client: PoolManagerdClient,
    ledger: SlotLedger,
    options: {
      intervalMs: number;
      log: LifecycleLog;
      onChange: () => void;
      /**
       * A node that failed LOST_AFTER_FAILED_POLLS polls in a row, and each failed poll after, until it answers again:
       * lost, not slow. One failed poll takes its pools out of placement, but a node whose host stalled for as long
       * as a poll may take (a loaded machine's CPU engine starves its neighbours) answers the next one.
       */
      onLost?: (node: string, reason: string) => void;
      metrics?: OrchMetrics;
    },
  ) {
    this.#nodes = [...new Set(nodes)];
    this.#client = client;
    this.#ledger = ledger;
    this.#log = options.log;
    this.#onChange = options.onChange;
    this.#onLost = options.onLost ?? (() => undefined);
    this.#metrics = options.metrics;
    this.#intervalMs = options.intervalMs;
    this.#loop = new Periodic({
      name: 'pool poll',
      intervalMs: options.intervalMs,
      tick: () => this.#tick(),
      log: options.log,
    });
  }

  async #pollNode(node: string): Promise<void> {
    const began = performance.now();
    const answer = await this.#client.listPools(node);
    if (!this.#nodes.includes(node)) return; // it vanished while we asked
    const before = this.#snapshots.get(node);
    const next: NodeSnapshot =
      answer.kind === 'listed'
        ? { available: true, pools: answer.pools, lastError: null }
        : { available: false, pools: before?.pools ?? [], lastError: answer.reason };
    if (answer.kind === 'listed')
      for (const pool of answer.pools) this.#ledger.observe(pool.pool_id, pool.slots_total, pool.slots_free);
    const nodeId = nodeIdOf(next);
    if (before?.available !== next.available) {
      if (next.available) this.#log.info({ node, node_id: nodeId }, 'pool-managerd reachable');
      else
        this.#log.warn(
          { node, node_id: nodeId, reason: next.lastError },
          'pool-managerd unreachable; its pools leave placement',
        );
    }
    this.#snapshots.set(node, next);
    const failed = answer.kind === 'listed' ? 0 : (this.#failedInARow.get(node) ?? 0) + 1;
    this.#failedInARow.set(node, failed);
    if (answer.kind !== 'listed' && failed >= LOST_AFTER_FAILED_POLLS) this.#onLost(node, answer.reason);
    if (this.#metrics) countPoolPoll(this.#metrics, next, performance.now() - began);
  }

  /** Warn once about each address that reports a node id another address already stands for. */
  #reportDuplicates(): void {
    const owners = nodeOwners(this.#nodes, this.#snapshots);
    for (const node of this.#nodes) {
      const snapshot = this.#snapshots.get(node);
      if (usedAddress(node, snapshot, owners) || this.#duplicates.has(node)) continue;
      this.#duplicates.add(node);
      const nodeId = nodeIdOf(snapshot);
      this.#log.warn(
        { node, node_id: nodeId, same_as: nodeId === null ? null : owners.get(nodeId) },
        'two pool-managerd addresses report the same node_id; treated as one node',
      );
    }
  }

  /** Poll a node unless a poll of it is in flight (then that one is the answer). */
  #poll(node: string): Promise<void> {
    const inFlight = this.#polling.get(node);
    if (inFlight !== undefined) return inFlight;
    const poll = this.#pollNode(node).finally(() => this.#polling.delete(node));
    this.#polling.set(node, poll);
    return poll;
  }

  /** Every node's status now, awaited. */
  async pollOnce(): Promise<void> {
    await Promise.all(this.#nodes.map((node) => this.#poll(node)));
    this.#reportDuplicates();
    this.#onChange();
  }

  /**
   * The loop's round: each node's answer is applied as it comes, and the round waits at most half an interval (it is
   * over before the next one is due), so a node that drops packets (its poll runs to the request timeout) does not
   * slow the polling of the others; it is asked again once its poll has ended.
   */
  async #tick(): Promise<void> {
    const answered = (): void => {
      this.#reportDuplicates();
      this.#onChange();
    };
    const round = Promise.all(this.#nodes.map((node) => this.#poll(node).then(answered)));
    let timer: NodeJS.Timeout | undefined;
    const interval = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#intervalMs / 2)));
    await Promise.race([round, interval]).finally(() => clearTimeout(timer));
  }

  /**
   * The node set changed (discovery): new nodes are polled at once, then vanished ones leave placement — in that
   * order, so a node that only changed its address is never out of placement in between.
   */
  async setNodes(nodes: readonly string[]): Promise<void> {
    const next = [...new Set(nodes)];
    const added = next.filter((node) => !this.#nodes.includes(node));
    const removed = this.#nodes.filter((node) => !next.includes(node));
    this.#nodes = [...this.#nodes, ...added];
    if (this.#loop.running) await Promise.all(added.map((node) => this.#pollNode(node)));
    for (const node of added) {
      const snapshot = this.#snapshots.get(node);
      this.#log.info(
        { node, node_id: nodeIdOf(snapshot), pools: snapshot?.pools.map((p) => p.pool_id) ?? [] },
        'pool-managerd discovered; polled at once',
      );
    }
    this.#nodes = next;
    for (const node of removed) {
      const nodeId = nodeIdOf(this.#snapshots.get(node));
      this.#snapshots.delete(node);
      this.#duplicates.delete(node);
      this.#failedInARow.delete(node);
      this.#log.warn({ node, node_id: nodeId }, 'pool-managerd no longer discovered; its pools leave placement');
    }
    this.#reportDuplicates();
    this.#onChange();
  }

  /** Poll now, then every interval. */
  start(): Promise<void> {
    return this.#loop.start();
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
    await Promise.allSettled([...this.#polling.values()]);
  }

  /**
   * A dispatch to a pool was refused or failed before its first token: until the node's next poll says otherwise,
   * treat the pool as `busy` (its slots are someone else's) or `down` (coming back, maybe: it waits as starting).
   */
  distrust(poolId: string, how: 'busy' | 'down'): void {
    const node = this.nodeOf(poolId);
    const snapshot = node === null ? undefined : this.#snapshots.get(node);
    const pool = snapshot?.pools.find((p) => p.pool_id === poolId);
    if (node === null || snapshot === undefined || pool === undefined) return;
    if (how === 'busy') {
      this.#ledger.observe(poolId, pool.slots_total, 0);
      return;
    }
    const down: PoolStatus = { ...pool, state: 'starting', ready: false };
    this.#snapshots.set(node, { ...snapshot, pools: snapshot.pools.map((p) => (p === pool ? down : p)) });
    void this.#loop.trigger();
  }

  /** Poll every node soon, out of turn (a pool was asked to change: its new state shows sooner). */
  refreshSoon(): void {
    void this.#loop.trigger();
  }

  /** Pool views with our own lease counts; one address per node id, and the first node to report a pool id owns it. */
  views(): PoolView[] {
    const owners = nodeOwners(this.#nodes, this.#snapshots);
    const seen = new Set<string>();
    const views: PoolView[] = [];
    for (const node of this.#nodes) {
      const snapshot = this.#snapshots.get(node);
      if (!usedAddress(node, snapshot, owners)) continue;
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
