import { poolKindOf, type PoolStatus } from '@llama-orch/contracts';
import type { GpuInfo } from '@llama-orch/provisioning';
import type { EngineShape } from './model-facts.ts';
import { derivePoolState, servingReplicas, type PoolEntry } from './pool-state.ts';

/** What the projection needs besides the pool itself. */
export interface StatusContext {
  readonly nodeId: string;
  /** The node's GPUs as last discovered (empty on a CPU node). */
  readonly gpus: readonly GpuInfo[];
  /** Slots held now on one replica of this pool (from the slot ledger). */
  readonly inFlight: (replicaId: string) => number;
  /** KV cache bytes per token of a model file, once its header has been read; null before or when unknown. */
  readonly kvBytesPerToken?: (modelPath: string) => number | null;
  /** Bytes one engine of this model file and shape holds (PROV-2041), once its header has been read; else null. */
  readonly memoryEstimate?: (modelPath: string, shape: EngineShape) => number | null;
}

/** The estimate summed over the pool's serving replicas (each has its own handoff); null while any is unknown. */
function poolMemoryEstimate(pool: PoolEntry, context: StatusContext): number | null {
  const serving = servingReplicas(pool);
  if (serving.length === 0 || context.memoryEstimate === undefined) return null;
  let total = 0;
  for (const [, { handoff }] of serving) {
    const shape = { ctx: handoff.ctx, slots: handoff.slots_total, kind: poolKindOf(handoff), device: handoff.device };
    const bytes = context.memoryEstimate(handoff.model.path, shape);
    if (bytes === null) return null;
    total += bytes;
  }
  return total;
}

/** PoolStatus.loading: while a pool loaded on demand loads or unloads, where that stands. */
function loadingOf(pool: PoolEntry, state: string): PoolStatus['loading'] {
  const progress = pool.onDemand?.progress ?? null;
  if (progress === null || (state !== 'loading' && state !== 'unloading')) return null;
  return {
    phase: progress.phase,
    bytes_done: progress.bytesDone,
    bytes_total: progress.bytesTotal,
    waiting_for: progress.waitingFor,
    elapsed_ms: Math.max(0, Date.now() - progress.since),
  };
}

/**
 * The wire shape of a pool (GET /v2/pools/{id}/status), projected from its registry entry. `deterministic`: on CPU
 * llama.cpp gives a sequence the same tokens whatever else shares its batch (measured: ORCH-4037's test runs 64
 * seeds alone and beside other work, on two replicas); on a GPU only a replica that decodes one sequence at a time
 * (one slot) is counted on, since its kernels are chosen by batch size.
 */
export function projectPoolStatus(pool: PoolEntry, context: StatusContext): PoolStatus {
  const state = derivePoolState(pool);
  const serving = servingReplicas(pool);
  const healthy = serving.filter(([, r]) => r.healthy);
  const first = serving[0]?.[1].handoff;
  const slotsTotal = healthy.reduce((sum, [, r]) => sum + r.handoff.slots_total, 0);
  // Only pool-managerd talks to its engines, so its own in-flight count is exact (the engine's /slots lags).
  const busy = healthy.reduce((sum, [id]) => sum + context.inFlight(id), 0);
  const device = first?.device ?? 'cpu';
  const gpuIndexes = new Set(serving.flatMap(([, r]) => r.handoff.gpus));
  const gpus = device === 'cuda' ? context.gpus.filter((g) => gpuIndexes.size === 0 || gpuIndexes.has(g.index)) : [];
  // Several replicas must run one engine build and one model file to give the same tokens for the same seed.
  const builds = new Set(
    serving.map(([, r]) => `${r.handoff.engine_version} ${r.handoff.model.sha256 ?? r.handoff.model.path}`),
  );
  const lastError = serving.find(([, r]) => r.lastError !== null)?.[1].lastError ?? pool.lastError;
  return {
    pool_id: pool.poolId,
    node_id: context.nodeId,
    state,
    live: healthy.length > 0,
    ready: state === 'ready',
    draining: pool.draining,
    model: first?.model.ref ?? pool.declaredModel ?? 'unknown',
    kind: first === undefined ? (pool.declaredKind ?? 'completion') : poolKindOf(first),
    engine: 'llamacpp',
    engine_version: first?.engine_version ?? null,
    slots_total: slotsTotal,
    slots_free: Math.max(0, slotsTotal - busy),
    ctx_max: first?.ctx ?? 0,
    device,
    gpus:
      device === 'cuda'
        ? (gpuIndexes.size > 0 ? [...gpuIndexes] : context.gpus.map((g) => g.index)).sort((a, b) => a - b)
        : [],
    model_digest: first?.model.sha256 ?? null,
    kv_bytes_per_token: first === undefined ? null : (context.kvBytesPerToken?.(first.model.path) ?? null),
    memory_estimate_bytes: poolMemoryEstimate(pool, context) ?? pool.plannedMemoryBytes,
    deterministic: builds.size <= 1 && (device === 'cpu' || serving.every(([, r]) => r.handoff.slots_total === 1)),
    load: pool.onDemand === null ? 'always' : 'on-demand',
    load_ms: pool.onDemand?.loadMs ?? null,
    loading: loadingOf(pool, state),
    vram_total_bytes: gpus.length === 0 ? null : gpus.reduce((sum, g) => sum + g.memoryTotalBytes, 0),
    vram_free_bytes: gpus.length === 0 ? null : gpus.reduce((sum, g) => sum + g.memoryFreeBytes, 0),
    last_error: state === 'ready' ? null : lastError,
    updated_at: pool.updatedAt.toISOString(),
  };
}
