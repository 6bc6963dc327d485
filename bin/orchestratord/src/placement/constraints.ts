import { deviceMaskIndexes } from '@llama-orch/contracts';
import type { PoolView } from './pool-view.ts';

/** What a task demands of a pool besides its model: a node, exact devices, a context size (ORCH-4033). */
export interface PoolConstraints {
  readonly nodeId?: string | undefined;
  readonly deviceMask?: string | undefined;
  /** The context the task needs, in tokens; 0 or absent: no demand. */
  readonly ctx?: number | undefined;
  /** `strict`: only pools that give the same tokens for the same seed (PoolStatus.deterministic, ORCH-4037). */
  readonly determinism?: 'strict' | 'best_effort' | undefined;
}

/**
 * The GPU indexes a pool runs on: empty for a CPU pool; null for a CUDA pool whose pool-managerd is too old to report
 * them, so that no GPU mask can be proven to match it.
 */
export function poolGpus(view: PoolView): readonly number[] | null {
  if (view.status.device === 'cpu') return [];
  return view.status.gpus ?? null;
}

/** Exact match, no spill (the reference's ORCH-3052): the pool's devices are the mask's, no more and no fewer. */
export function matchesDeviceMask(view: PoolView, mask: string): boolean {
  const gpus = poolGpus(view);
  const wanted = deviceMaskIndexes(mask);
  return gpus !== null && gpus.length === wanted.length && gpus.every((gpu, i) => gpu === wanted[i]);
}

const devicesOf = (view: PoolView): string => {
  const gpus = poolGpus(view);
  if (gpus === null) return `${view.status.device} (its GPU indexes are not reported)`;
  return gpus.length === 0 ? 'cpu' : `GPUs ${gpus.join(',')}`;
};

export type Constrained =
  | { readonly kind: 'pools'; readonly pools: readonly PoolView[] }
  | { readonly kind: 'none'; readonly field: string; readonly message: string; readonly gone: boolean };

/**
 * Keep the pools serving the model that meet the task's constraints. When none does, say which constraint emptied
 * the set, by its field; `gone` marks a node that no longer appears at all (it may come back: not the client's fault).
 * A pool that reports no context yet (no replica serving) is kept by the ctx demand until it does.
 */
export function constrain(byModel: readonly PoolView[], all: readonly PoolView[], c: PoolConstraints): Constrained {
  let pools = byModel;
  const model = byModel[0]?.status.model ?? '';
  if (c.nodeId !== undefined) {
    const node = c.nodeId;
    pools = pools.filter((p) => p.status.node_id === node);
    if (pools.length === 0) {
      const gone = !all.some((p) => p.status.node_id === node);
      const own = all.filter((p) => p.status.node_id === node).map((p) => p.status.pool_id);
      return {
        kind: 'none',
        field: 'placement.node_id',
        gone,
        message: gone
          ? `node ${node} is not known now`
          : `node ${node} has no pool serving ${model} (its pools: ${own.sort().join(', ')})`,
      };
    }
  }
  if (c.deviceMask !== undefined) {
    const mask = c.deviceMask;
    const before = pools;
    pools = pools.filter((p) => matchesDeviceMask(p, mask));
    if (pools.length === 0)
      return {
        kind: 'none',
        field: 'placement.require_device_mask',
        gone: false,
        message: `no pool serving ${model} runs on exactly "${mask}" (${[...before]
          .sort((a, b) => a.status.pool_id.localeCompare(b.status.pool_id))
          .map((p) => `pool ${p.status.pool_id}: ${devicesOf(p)}`)
          .join('; ')})`,
      };
  }
  const ctx = c.ctx ?? 0;
  if (ctx > 0) {
    const before = pools;
    pools = pools.filter((p) => p.status.ctx_max === 0 || p.status.ctx_max >= ctx);
    if (pools.length === 0)
      return {
        kind: 'none',
        field: 'ctx',
        gone: false,
        message: `no pool serving ${model} has a context of ${ctx} tokens (the largest: ${Math.max(...before.map((p) => p.status.ctx_max))})`,
      };
  }
  if (c.determinism === 'strict') {
    const before = pools;
    pools = pools.filter((p) => p.status.deterministic === true);
    if (pools.length === 0)
      return {
        kind: 'none',
        field: 'determinism',
        gone: false,
        message: `no pool serving ${model} can give byte-identical streams (${[...before]
          .map((p) => p.status.pool_id)
          .sort()
          .join(
            ', ',
          )}: GPU pools need one slot per replica, and every replica the same engine build and model file); ask for best_effort`,
      };
  }
  return { kind: 'pools', pools };
}
