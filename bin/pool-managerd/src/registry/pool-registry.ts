import type { Handoff, PoolState, PoolStatus } from '@llama-orch/contracts';
import type { GpuInfo } from '@llama-orch/provisioning';

/** One engine of a pool, as its handoff file describes it and its health checks observe it. */
export interface ReplicaEntry {
  readonly handoff: Handoff;
  healthy: boolean;
  /** Ever answered /health since this handoff appeared (distinguishes starting from offline). */
  seenHealthy: boolean;
  /** Slots the engine reports busy (from /slots), null before the first poll. */
  engineProcessing: number | null;
  inFlight: number;
  lastError: string | null;
}

interface PoolEntry {
  readonly poolId: string;
  readonly replicas: Map<string, ReplicaEntry>;
  /** Which replicas take dispatches; null: all of them (a reload narrows it to one generation). */
  active: ReadonlySet<string> | null;
  draining: boolean;
  /** Drained on purpose: offline until a reload (or a new handoff) brings it back. */
  drained: boolean;
  /** Lifecycle from the in-process provisioner, when there is one. */
  provisioning: 'provisioning' | 'starting' | 'failed' | null;
  lastError: string | null;
  /** The model the config asks for, shown before any handoff exists. */
  declaredModel: string | null;
  updatedAt: Date;
}

export type RegistryChange = {
  readonly poolId: string;
  readonly from: PoolState;
  readonly to: PoolState;
  readonly reason: string;
};

/**
 * The node's pools: desired state from handoff files, observed state from health checks and leases.
 * Every state change is reported through `onChange`, the one place it is logged.
 */
export class PoolRegistry {
  readonly #pools = new Map<string, PoolEntry>();
  readonly #nodeId: string;
  readonly #onChange: (change: RegistryChange) => void;
  #gpus: readonly GpuInfo[] = [];

  constructor(nodeId: string, onChange: (change: RegistryChange) => void = () => undefined) {
    this.#nodeId = nodeId;
    this.#onChange = onChange;
  }

  get nodeId(): string {
    return this.#nodeId;
  }

  #pool(poolId: string): PoolEntry {
    let pool = this.#pools.get(poolId);
    if (pool === undefined) {
      pool = {
        poolId,
        replicas: new Map(),
        active: null,
        draining: false,
        drained: false,
        provisioning: null,
        lastError: null,
        declaredModel: null,
        updatedAt: new Date(),
      };
      this.#pools.set(poolId, pool);
    }
    return pool;
  }

  /** Run a mutation and report the state change it caused, if any. */
  #mutate(poolId: string, reason: string, change: (pool: PoolEntry) => void): void {
    const pool = this.#pool(poolId);
    const before = this.#state(pool);
    change(pool);
    pool.updatedAt = new Date();
    const after = this.#state(pool);
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
      pool.replicas.set(handoff.replica_id, {
        handoff,
        healthy: false,
        seenHealthy: false,
        engineProcessing: null,
        inFlight: previous?.inFlight ?? 0,
        lastError: null,
      });
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

  observeHealth(
    poolId: string,
    replicaId: string,
    result: { healthy: boolean; processing: number | null; error: string | null },
  ): void {
    const replica = this.#pools.get(poolId)?.replicas.get(replicaId);
    if (replica === undefined) return;
    if (
      replica.healthy === result.healthy &&
      replica.engineProcessing === result.processing &&
      replica.lastError === result.error
    )
      return;
    this.#mutate(
      poolId,
      result.error ?? (result.healthy ? `${replicaId} answers /health` : `${replicaId} not healthy`),
      () => {
        replica.healthy = result.healthy;
        replica.seenHealthy ||= result.healthy;
        replica.engineProcessing = result.processing;
        replica.lastError = result.error;
      },
    );
  }

  /** A pool this node is configured to serve, known before its engines exist. */
  declare(poolId: string, model: string): void {
    this.#mutate(poolId, 'configured', (pool) => {
      pool.declaredModel = model;
      pool.provisioning ??= 'provisioning';
    });
  }

  /** Lifecycle reported by an in-process provisioner (before there is any handoff, or when it failed). */
  setProvisioning(
    poolId: string,
    state: 'provisioning' | 'starting' | 'failed' | null,
    error: string | null = null,
  ): void {
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

  /** Replicas that may take a dispatch now, least loaded first. */
  dispatchable(poolId: string): { replicaId: string; replica: ReplicaEntry }[] {
    const pool = this.#pools.get(poolId);
    if (pool === undefined || this.#state(pool) !== 'ready') return [];
    return [...pool.replicas]
      .filter(
        ([id, r]) => r.healthy && (pool.active === null || pool.active.has(id)) && r.inFlight < r.handoff.slots_total,
      )
      .sort(
        ([a, x], [b, y]) =>
          x.inFlight / x.handoff.slots_total - y.inFlight / y.handoff.slots_total || a.localeCompare(b),
      )
      .map(([replicaId, replica]) => ({ replicaId, replica }));
  }

  adjustInFlight(poolId: string, replicaId: string, delta: 1 | -1): void {
    const replica = this.#pools.get(poolId)?.replicas.get(replicaId);
    if (replica) replica.inFlight = Math.max(0, replica.inFlight + delta);
  }

  inFlight(poolId: string): number {
    return [...(this.#pools.get(poolId)?.replicas.values() ?? [])].reduce((sum, r) => sum + r.inFlight, 0);
  }

  state(poolId: string): PoolState | null {
    const pool = this.#pools.get(poolId);
    return pool === undefined ? null : this.#state(pool);
  }

  #state(pool: PoolEntry): PoolState {
    if (pool.drained) return 'offline';
    if (pool.draining) return 'draining';
    const serving = [...pool.replicas].filter(([id]) => pool.active === null || pool.active.has(id)).map(([, r]) => r);
    if (serving.some((r) => r.healthy)) return 'ready';
    if (pool.provisioning === 'failed') return 'failed';
    if (pool.provisioning !== null && serving.length === 0) return pool.provisioning;
    if (serving.length > 0 && serving.every((r) => !r.seenHealthy)) return 'starting';
    return 'offline';
  }

  status(poolId: string): PoolStatus | null {
    const pool = this.#pools.get(poolId);
    if (pool === undefined) return null;
    const state = this.#state(pool);
    const serving = [...pool.replicas].filter(([id]) => pool.active === null || pool.active.has(id)).map(([, r]) => r);
    const healthy = serving.filter((r) => r.healthy);
    const first = serving[0]?.handoff;
    const slotsTotal = healthy.reduce((sum, r) => sum + r.handoff.slots_total, 0);
    // Only pool-managerd talks to its engines, so its own in-flight count is exact (the polled /slots lags).
    const busy = healthy.reduce((sum, r) => sum + r.inFlight, 0);
    const device = first?.device ?? 'cpu';
    const gpuIndexes = new Set(serving.flatMap((r) => r.handoff.gpus));
    const gpus = device === 'cuda' ? this.#gpus.filter((g) => gpuIndexes.size === 0 || gpuIndexes.has(g.index)) : [];
    const lastError = serving.find((r) => r.lastError !== null)?.lastError ?? pool.lastError;
    return {
      pool_id: pool.poolId,
      node_id: this.#nodeId,
      state,
      live: healthy.length > 0,
      ready: state === 'ready',
      draining: pool.draining,
      model: first?.model.ref ?? pool.declaredModel ?? 'unknown',
      engine: 'llamacpp',
      engine_version: first?.engine_version ?? null,
      slots_total: slotsTotal,
      slots_free: Math.max(0, slotsTotal - busy),
      ctx_max: first?.ctx ?? 0,
      device,
      vram_total_bytes: gpus.length === 0 ? null : gpus.reduce((sum, g) => sum + g.memoryTotalBytes, 0),
      vram_free_bytes: gpus.length === 0 ? null : gpus.reduce((sum, g) => sum + g.memoryFreeBytes, 0),
      last_error: state === 'ready' ? null : lastError,
      updated_at: pool.updatedAt.toISOString(),
    };
  }

  statuses(): PoolStatus[] {
    return this.poolIds().flatMap((id) => this.status(id) ?? []);
  }
}
