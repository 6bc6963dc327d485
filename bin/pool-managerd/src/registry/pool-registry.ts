import { poolKindOf, type Handoff, type PoolKind, type PoolState, type PoolStatus } from '@llama-orch/contracts';
import type { GpuInfo } from '@llama-orch/provisioning';
import type { SlotCandidate, SlotCounts } from '../slots/slot-ledger.ts';
import {
  derivePoolState,
  dispatchCandidates,
  emptyPool,
  servingReplicas,
  type PoolEntry,
  type ProvisioningState,
  type ReplicaEntry,
  type LoadProgressEntry,
  type Residency,
} from './pool-state.ts';
import { ModelFactsCache } from './model-facts.ts';
import { projectPoolStatus } from './pool-status.ts';

export type { ReplicaEntry } from './pool-state.ts';

export type RegistryChange = {
  readonly poolId: string;
  readonly from: PoolState;
  readonly to: PoolState;
  readonly reason: string;
};

export interface PoolRegistryOptions {
  readonly nodeId: string;
  /** Where the busy slots of the status come from; the registry itself counts none. */
  readonly slots: SlotCounts;
  /** Every state change, the one place it is logged. */
  readonly onChange?: (change: RegistryChange) => void;
}

/**
 * The node's pools: desired state from handoff files, observed state from health checks. Every state change is
 * reported through `onChange`. State and status are derived by pure functions (pool-state.ts, pool-status.ts).
 */
export class PoolRegistry {
  readonly #pools = new Map<string, PoolEntry>();
  readonly #nodeId: string;
  readonly #slots: SlotCounts;
  readonly #onChange: (change: RegistryChange) => void;
  #gpus: readonly GpuInfo[] = [];
  readonly #modelFacts = new ModelFactsCache();

  constructor(options: PoolRegistryOptions) {
    this.#nodeId = options.nodeId;
    this.#slots = options.slots;
    this.#onChange = options.onChange ?? (() => undefined);
  }

  get nodeId(): string {
    return this.#nodeId;
  }

  #pool(poolId: string): PoolEntry {
    let pool = this.#pools.get(poolId);
    if (pool === undefined) {
      pool = emptyPool(poolId, new Date());
      this.#pools.set(poolId, pool);
    }
    return pool;
  }

  /** Run a mutation and report the state change it caused, if any. */
  #mutate(poolId: string, reason: string, change: (pool: PoolEntry) => void): void {
    const pool = this.#pool(poolId);
    const before = derivePoolState(pool);
    change(pool);
    pool.updatedAt = new Date();
    const after = derivePoolState(pool);
    if (before !== after) this.#onChange({ poolId, from: before, to: after, reason });
  }

  has(poolId: string): boolean {
    return this.#pools.has(poolId);
  }

  poolIds(): string[] {
    return [...this.#pools.keys()].sort();
  }

  /** A valid handoff appeared or changed: the replica starts unverified until its /health answers. */
  upsertReplica(handoff: Handoff): { restarted: boolean } {
    let restarted = false;
    this.#mutate(handoff.pool_id, `handoff ${handoff.pool_id}-${handoff.replica_id} (pid ${handoff.pid})`, (pool) => {
      const previous = pool.replicas.get(handoff.replica_id);
      restarted = previous !== undefined && previous.handoff.pid !== handoff.pid;
      if (previous !== undefined && previous.handoff.pid === handoff.pid && previous.handoff.url === handoff.url) {
        pool.replicas.set(handoff.replica_id, { ...previous, handoff });
        return;
      }
      pool.replicas.set(handoff.replica_id, { handoff, healthy: false, seenHealthy: false, lastError: null });
      pool.drained = false;
      pool.provisioning = null;
    });
    return { restarted };
  }

  removeReplica(poolId: string, replicaId: string, reason: string): void {
    if (!this.#pools.get(poolId)?.replicas.has(replicaId)) return;
    this.#mutate(poolId, reason, (pool) => {
      pool.replicas.delete(replicaId);
    });
  }

  replicas(poolId: string): ReadonlyMap<string, ReplicaEntry> {
    return this.#pools.get(poolId)?.replicas ?? new Map();
  }

  allReplicas(): { poolId: string; replicaId: string; replica: ReplicaEntry }[] {
    return [...this.#pools.values()].flatMap((pool) =>
      [...pool.replicas].map(([replicaId, replica]) => ({ poolId: pool.poolId, replicaId, replica })),
    );
  }

  observeHealth(poolId: string, replicaId: string, result: { healthy: boolean; error: string | null }): void {
    const replica = this.#pools.get(poolId)?.replicas.get(replicaId);
    if (replica === undefined) return;
    if (replica.healthy === result.healthy && replica.lastError === result.error) return;
    this.#mutate(
      poolId,
      result.error ?? (result.healthy ? `${replicaId} answers /health` : `${replicaId} not healthy`),
      () => {
        replica.healthy = result.healthy;
        replica.seenHealthy ||= result.healthy;
        replica.lastError = result.error;
      },
    );
  }

  /**
   * Drop the pools that have had no replica for `afterMs` (their last handoff removed or refused), unless this node
   * is configured to serve them (declared) or they are draining: otherwise every pool that ever had a handoff would
   * stay listed as offline. Returns the ids forgotten.
   */
  forgetGone(afterMs: number, now: Date = new Date()): string[] {
    const gone = [...this.#pools.values()].filter(
      (pool) =>
        pool.replicas.size === 0 &&
        pool.declaredModel === null &&
        pool.provisioning === null &&
        !pool.draining &&
        now.getTime() - pool.updatedAt.getTime() >= afterMs,
    );
    for (const pool of gone) this.#pools.delete(pool.poolId);
    return gone.map((pool) => pool.poolId);
  }

  /** A pool this node is configured to serve, known before its engines exist. */
  declare(poolId: string, model: string, kind: PoolKind = 'completion'): void {
    this.#mutate(poolId, 'configured', (pool) => {
      pool.declaredModel = model;
      pool.declaredKind = kind;
      pool.provisioning ??= 'provisioning';
    });
  }

  /** A pool loaded on demand: where it stands between runs (null once it serves), and the last load's duration. */
  setResidency(poolId: string, residency: Residency | null, reason: string, loadMs?: number): void {
    this.#mutate(poolId, reason, (pool) => {
      const progress = residency === 'loading' || residency === 'unloading' ? (pool.onDemand?.progress ?? null) : null;
      pool.onDemand = { residency, loadMs: loadMs ?? pool.onDemand?.loadMs ?? null, progress };
      if (residency === 'loading') pool.lastError = null;
    });
  }

  /** Where the load of a pool loaded on demand stands (ignored for a pool loaded always). */
  setLoadProgress(poolId: string, progress: LoadProgressEntry | null): void {
    const pool = this.#pools.get(poolId);
    if (pool?.onDemand) pool.onDemand.progress = progress;
  }

  /** The load progress of a pool loaded on demand, if a load or unload is under way. */
  loadProgress(poolId: string): LoadProgressEntry | null {
    return this.#pools.get(poolId)?.onDemand?.progress ?? null;
  }

  /** The memory estimate of the pool's engines, worked out before they run (issue 18). */
  setMemoryEstimate(poolId: string, bytes: number | null): void {
    const pool = this.#pools.get(poolId);
    if (pool) pool.plannedMemoryBytes = bytes;
  }

  /** Lifecycle reported by an in-process provisioner (before there is any handoff, or when it failed). */
  setProvisioning(poolId: string, state: ProvisioningState | null, error: string | null = null): void {
    this.#mutate(poolId, error ?? `provisioner: ${state ?? 'running'}`, (pool) => {
      pool.provisioning = state;
      if (error !== null) pool.lastError = error;
    });
  }

  setDraining(poolId: string, draining: boolean, drained: boolean, reason: string): void {
    this.#mutate(poolId, reason, (pool) => {
      pool.draining = draining;
      pool.drained = drained;
    });
  }

  setActive(poolId: string, active: ReadonlySet<string> | null, reason: string): void {
    this.#mutate(poolId, reason, (pool) => {
      pool.active = active;
    });
  }

  setLastError(poolId: string, error: string | null): void {
    const pool = this.#pools.get(poolId);
    if (pool) pool.lastError = error;
  }

  setGpus(gpus: readonly GpuInfo[]): void {
    this.#gpus = gpus;
  }

  /** Replicas a dispatch may go to before slots are counted (the slot ledger picks among them). */
  candidates(poolId: string): SlotCandidate[] {
    const pool = this.#pools.get(poolId);
    return pool === undefined ? [] : dispatchCandidates(pool);
  }

  state(poolId: string): PoolState | null {
    const pool = this.#pools.get(poolId);
    return pool === undefined ? null : derivePoolState(pool);
  }

  /** What the pool serves: its engines' kind, or the configured one before they exist; null when unknown. */
  kind(poolId: string): PoolKind | null {
    const pool = this.#pools.get(poolId);
    if (pool === undefined) return null;
    const first = servingReplicas(pool)[0]?.[1].handoff;
    return first === undefined ? (pool.declaredKind ?? 'completion') : poolKindOf(first);
  }

  status(poolId: string): PoolStatus | null {
    const pool = this.#pools.get(poolId);
    if (pool === undefined) return null;
    return projectPoolStatus(pool, {
      nodeId: this.#nodeId,
      gpus: this.#gpus,
      inFlight: (replicaId) => this.#slots.inFlight(poolId, replicaId),
      kvBytesPerToken: (modelPath) => this.#modelFacts.kvBytesPerToken(modelPath),
      memoryEstimate: (modelPath, shape) => this.#modelFacts.memoryEstimate(modelPath, shape),
    });
  }

  statuses(): PoolStatus[] {
    return this.poolIds().flatMap((id) => this.status(id) ?? []);
  }
}
