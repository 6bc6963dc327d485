import type { Handoff, LoadProgress, PoolKind, PoolState } from '@llama-orch/contracts';
import type { SlotCandidate } from '../slots/slot-ledger.ts';

/** One engine of a pool, as its handoff file describes it and its health checks observe it. */
export interface ReplicaEntry {
  readonly handoff: Handoff;
  healthy: boolean;
  /** Ever answered /health since this handoff appeared (distinguishes starting from offline). */
  seenHealthy: boolean;
  lastError: string | null;
}

/** What the provisioner in this process reports before a pool has handoffs (or when it failed). */
export type ProvisioningState = 'provisioning' | 'starting' | 'failed';

/** Where a load (or unload) of a pool loaded on demand stands: PoolStatus.loading without the elapsed time. */
export interface LoadProgressEntry {
  readonly phase: LoadProgress['phase'];
  readonly bytesDone: number | null;
  readonly bytesTotal: number | null;
  readonly waitingFor: string | null;
  /** When the load was asked for (ms since the epoch). */
  readonly since: number;
}

/** Where a pool loaded on demand stands between its engines' runs; null for one loaded always (or while it serves). */
export type Residency = 'unloaded' | 'loading' | 'unloading';

/** Everything the registry knows of one pool; the state and the status are derived from it. */
export interface PoolEntry {
  readonly poolId: string;
  readonly replicas: Map<string, ReplicaEntry>;
  /** Which replicas take dispatches; null: all of them (a reload narrows it to one generation). */
  active: ReadonlySet<string> | null;
  draining: boolean;
  /** Drained on purpose: offline until a reload (or a new handoff) brings it back. */
  drained: boolean;
  /** Lifecycle from the in-process provisioner, when there is one. */
  provisioning: ProvisioningState | null;
  lastError: string | null;
  /** The model the config asks for, shown before any handoff exists. */
  declaredModel: string | null;
  /** The kind the config gives the pool (completion, embedding, rerank), shown before any handoff exists. */
  declaredKind: PoolKind | null;
  /** Set for a pool loaded on demand (PoolConfig.load); null for one whose engines always run. */
  onDemand: { residency: Residency | null; loadMs: number | null; progress: LoadProgressEntry | null } | null;
  /** The memory estimate worked out before any engine runs (from the model file's header), if it was. */
  plannedMemoryBytes: number | null;
  updatedAt: Date;
}

export function emptyPool(poolId: string, now: Date): PoolEntry {
  return {
    poolId,
    replicas: new Map(),
    active: null,
    draining: false,
    drained: false,
    provisioning: null,
    lastError: null,
    declaredModel: null,
    declaredKind: null,
    onDemand: null,
    plannedMemoryBytes: null,
    updatedAt: now,
  };
}

/** The replicas of the active generation (all of them unless a reload narrowed it), in insertion order. */
export function servingReplicas(pool: PoolEntry): [string, ReplicaEntry][] {
  return [...pool.replicas].filter(([id]) => pool.active === null || pool.active.has(id));
}

/** The pool's state, derived from its entry alone. */
export function derivePoolState(pool: PoolEntry): PoolState {
  if (pool.drained) return 'offline';
  if (pool.draining) return 'draining';
  const residency = pool.onDemand?.residency ?? null;
  if (residency === 'unloading' || residency === 'unloaded') return residency;
  const serving = servingReplicas(pool).map(([, r]) => r);
  if (serving.some((r) => r.healthy)) return 'ready';
  if (pool.provisioning === 'failed') return 'failed';
  if (residency === 'loading') return 'loading';
  if (pool.provisioning !== null && serving.length === 0) return pool.provisioning;
  if (serving.length > 0 && serving.every((r) => !r.seenHealthy)) return 'starting';
  return 'offline';
}

/** Replicas a dispatch may go to, before slots are counted: healthy ones of the active generation of a ready pool. */
export function dispatchCandidates(pool: PoolEntry): SlotCandidate[] {
  if (derivePoolState(pool) !== 'ready') return [];
  return servingReplicas(pool)
    .filter(([, r]) => r.healthy)
    .map(([replicaId, r]) => ({ replicaId, slotsTotal: r.handoff.slots_total }));
}
