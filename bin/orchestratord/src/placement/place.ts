import { poolKindOf, type PoolKind } from '@llama-orch/contracts';
import { constrain } from './constraints.ts';
import type { PoolView } from './pool-view.ts';

export type { PoolView } from './pool-view.ts';

export interface PlacementRequest {
  readonly model: string;
  /** The kind of pool the task needs (absent: completion); pools of another kind never take it. */
  readonly kind?: PoolKind | undefined;
  readonly placement?:
    | {
        readonly mode: 'pin' | 'prefer' | 'auto';
        readonly pin_pool_id?: string | undefined;
        readonly prefer_pools?: readonly string[] | undefined;
        readonly avoid_pools?: readonly string[] | undefined;
        readonly allow_fallback: boolean;
        /** Only pools on exactly these devices ("cpu" or GPU indexes "0,1"). */
        readonly require_device_mask?: string | undefined;
        /** Only the pools of this node (CLOUD). */
        readonly node_id?: string | undefined;
      }
    | undefined;
  /** The context the task needs (TaskRequest.ctx): pools reporting a smaller ctx_max are not candidates. */
  readonly ctx?: number | undefined;
  /** `strict`: only pools that honour it (ORCH-4037). */
  readonly determinism?: 'strict' | 'best_effort' | undefined;
  /** The pool the task's session last ran on (KV reuse), if any. */
  readonly affinity?: string | undefined;
  /**
   * What the session's KV cache on its `affinity` pool is worth when that pool is busy and another is free: the
   * tokens it holds, each pool's measured prefill cost per token, when the affinity pool frees a slot (ms from now),
   * and how long this task has already waited for it. It waits while the wait is shorter than the prefill.
   */
  readonly warm?:
    | {
        readonly tokens: number;
        readonly prefillMs: (poolId: string) => number;
        readonly slotFreeInMs: (poolId: string) => number;
        readonly waitedMs: number;
      }
    | undefined;
  /** Pools that already failed this task before its first token. */
  readonly exclude?: ReadonlySet<string>;
}

export type Placement =
  | { readonly kind: 'assigned'; readonly pool: PoolView; readonly reason: string }
  /**
   * No slot now: a feasible pool is up but busy (`slot`), or none is up but one is coming (`start`). `load`: the
   * pool loaded on demand to ask pool-managerd to load, when none is loading yet; `loadMs`: how long the coming
   * pool's last load took (for the predicted start), when it was loaded on demand before.
   */
  | {
      readonly kind: 'wait';
      readonly until: 'slot' | 'start';
      readonly reason: string;
      readonly load?: PoolView;
      readonly loadMs?: number;
    }
  /** Nothing can run it now and nothing is coming: every candidate is offline, failed or unreachable. */
  /**
   * Nothing can run it now and nothing is coming. `final`: every candidate is a pool loaded on demand whose load
   * failed (its model does not fit, or its engines did not start): nothing brings it back without an operator, so
   * waiting tasks end at once rather than after the pool wait.
   */
  | { readonly kind: 'unavailable'; readonly reason: string; readonly final?: boolean }
  | { readonly kind: 'impossible'; readonly code: 'INVALID_PARAMS' | 'MODEL_NOT_AVAILABLE'; readonly message: string };

export const servesModel = (view: PoolView, model: string): boolean =>
  view.status.model === model || view.status.pool_id === model;
/**
 * States from which a pool may serve soon: being built, loading, draining for a reload, or loaded on demand (unloaded
 * and unloading ones are loaded when a task needs them).
 */
const COMING: ReadonlySet<string> = new Set([
  'provisioning',
  'starting',
  'draining',
  'loading',
  'unloading',
  'unloaded',
]);
const ON_DEMAND_IDLE: ReadonlySet<string> = new Set(['unloading', 'unloaded']);
const describe = (pools: readonly PoolView[]): string =>
  [...pools]
    .sort((a, b) => a.status.pool_id.localeCompare(b.status.pool_id))
    .map((p) =>
      p.available
        ? `pool ${p.status.pool_id} is ${p.status.state}${p.status.last_error ? ` (${p.status.last_error})` : ''}`
        : `pool ${p.status.pool_id}: its pool-managerd does not answer`,
    )
    .join('; ');
const freeSlots = (view: PoolView): number => view.status.slots_total - view.leases - view.othersBusy;
const load = (view: PoolView): number => (view.status.slots_total === 0 ? 1 : view.leases / view.status.slots_total);

/**
 * ARCHITECTURE §3: feasible = ready ∧ ¬draining ∧ serves the model ∧ honours placement ∧ a free slot; then session
 * affinity, least loaded, most free VRAM, pool id. Pure and deterministic: the same views give the same answer.
 */
export function place(pools: readonly PoolView[], request: PlacementRequest): Placement {
  const named = pools.filter((p) => servesModel(p, request.model));
  const kind = request.kind ?? 'completion';
  const byModel = named.filter((p) => poolKindOf(p.status) === kind);
  const known = new Set(pools.map((p) => p.status.pool_id));
  const placement = request.placement;
  if (placement?.mode === 'pin' && placement.pin_pool_id !== undefined && !known.has(placement.pin_pool_id)) {
    return {
      kind: 'impossible',
      code: 'INVALID_PARAMS',
      message: `placement.pin_pool_id: no pool ${placement.pin_pool_id}`,
    };
  }
  if (byModel.length === 0 && named.length > 0) {
    const kinds = [...new Set(named.map((p) => poolKindOf(p.status)))].sort().join(' and ');
    return {
      kind: 'impossible',
      code: 'MODEL_NOT_AVAILABLE',
      message: `model ${request.model} is served for ${kinds} only: no pool of kind ${kind} serves it`,
    };
  }
  if (byModel.length === 0)
    return { kind: 'impossible', code: 'MODEL_NOT_AVAILABLE', message: `no pool serves model ${request.model}` };
  if (placement?.mode === 'pin' && !byModel.some((p) => p.status.pool_id === placement.pin_pool_id)) {
    return {
      kind: 'impossible',
      code: 'INVALID_PARAMS',
      message: `placement.pin_pool_id: pool ${placement.pin_pool_id} does not serve ${request.model}`,
    };
  }
  // Node, devices and context narrow the pools first; what they leave is what pin, prefer and avoid act on.
  const constrained = constrain(byModel, pools, {
    nodeId: placement?.node_id,
    deviceMask: placement?.require_device_mask,
    ctx: request.ctx,
    determinism: request.determinism,
  });
  if (constrained.kind === 'none') {
    // A node that vanished (its pool-managerd is no longer polled) may come back: wait, do not blame the client.
    if (constrained.gone) return { kind: 'unavailable', reason: `${constrained.field}: ${constrained.message}` };
    return { kind: 'impossible', code: 'INVALID_PARAMS', message: `${constrained.field}: ${constrained.message}` };
  }
  const avoid = new Set(placement?.avoid_pools ?? []);
  let candidates = constrained.pools.filter(
    (p) => !avoid.has(p.status.pool_id) && !(request.exclude?.has(p.status.pool_id) ?? false),
  );
  if (placement?.mode === 'pin') candidates = candidates.filter((p) => p.status.pool_id === placement.pin_pool_id);
  if (placement?.mode === 'prefer') {
    const preferred = new Set(placement.prefer_pools ?? []);
    const inPreferred = candidates.filter((p) => preferred.has(p.status.pool_id));
    // Fall back when no preferred pool could take the task now (down, draining or full), as ORCH-4004's feasibility
    // has it; a preferred pool that frees up is chosen again the next time the task is placed.
    const feasible = inPreferred.filter((p) => p.available && p.status.ready && !p.status.draining && freeSlots(p) > 0);
    if (feasible.length > 0 || !placement.allow_fallback) candidates = inPreferred;
  }
  if (candidates.length === 0)
    return {
      kind: 'impossible',
      code: 'INVALID_PARAMS',
      message: 'placement: every pool serving this model is excluded',
    };
  const up = candidates.filter((p) => p.available && p.status.ready && !p.status.draining);
  const feasible = up.filter((p) => freeSlots(p) > 0);
  if (feasible.length === 0) {
    if (up.length > 0) return { kind: 'wait', until: 'slot', reason: 'every feasible pool is busy' };
    const coming = candidates.filter((p) => p.available && COMING.has(p.status.state));
    if (coming.length > 0) {
      const loadMs = Math.max(0, ...coming.map((p) => p.status.load_ms ?? 0));
      const timing = loadMs > 0 ? { loadMs } : {};
      // Nothing on its way up, only pools loaded on demand at rest: ask for the first (pool id order) to load.
      const load = coming.every((p) => ON_DEMAND_IDLE.has(p.status.state))
        ? [...coming].sort((a, b) => a.status.pool_id.localeCompare(b.status.pool_id))[0]
        : undefined;
      return { kind: 'wait', until: 'start', reason: describe(coming), ...timing, ...(load ? { load } : {}) };
    }
    const final = candidates.every((p) => p.available && p.status.load === 'on-demand' && p.status.state === 'failed');
    return { kind: 'unavailable', reason: describe(candidates), ...(final ? { final } : {}) };
  }
  const warmBusy = up.find((p) => p.status.pool_id === request.affinity && freeSlots(p) <= 0);
  if (warmBusy !== undefined && request.warm !== undefined) {
    // The session's KV cache is on a busy pool: waiting for it costs its next free slot; going elsewhere costs the
    // prefill of what it holds (on the cheapest free pool).
    const { tokens, prefillMs, slotFreeInMs, waitedMs } = request.warm;
    const coldMs = tokens * Math.min(...feasible.map((p) => prefillMs(p.status.pool_id)));
    const waitMs = slotFreeInMs(warmBusy.status.pool_id);
    if (waitedMs + waitMs < coldMs)
      return {
        kind: 'wait',
        until: 'slot',
        reason: `session affinity: pool ${warmBusy.status.pool_id} holds its ${tokens} tokens of KV cache and frees a slot in ~${Math.round(waitMs)} ms, sooner than ~${Math.round(coldMs)} ms of prefill elsewhere`,
      };
  }
  const sorted = [...feasible].sort(
    (a, b) =>
      Number(b.status.pool_id === request.affinity) - Number(a.status.pool_id === request.affinity) ||
      load(a) - load(b) ||
      (b.status.vram_free_bytes ?? 0) - (a.status.vram_free_bytes ?? 0) ||
      a.status.pool_id.localeCompare(b.status.pool_id),
  );
  const chosen = sorted[0];
  if (chosen === undefined) return { kind: 'wait', until: 'slot', reason: 'no feasible pool' };
  const reason =
    chosen.status.pool_id === request.affinity
      ? 'session affinity'
      : feasible.length === 1
        ? 'only feasible pool'
        : 'least loaded';
  return { kind: 'assigned', pool: chosen, reason };
}
