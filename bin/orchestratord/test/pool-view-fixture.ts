import type { PoolStatus } from '@llama-orch/contracts';
import type { PoolView } from '../src/placement/place.ts';

/** A ready CPU pool serving `demo` with 2 free slots, as a poll reports it; `status` and `view` override parts. */
export function poolView(
  poolId: string,
  status: Partial<PoolStatus> = {},
  view: Partial<Omit<PoolView, 'status'>> = {},
): PoolView {
  return {
    nodeUrl: 'http://127.0.0.1:9200',
    available: true,
    leases: 0,
    othersBusy: 0,
    ...view,
    status: {
      pool_id: poolId,
      node_id: 'n',
      state: 'ready',
      live: true,
      ready: true,
      draining: false,
      model: 'demo',
      engine: 'llamacpp',
      engine_version: 'x',
      slots_total: 2,
      slots_free: 2,
      ctx_max: 512,
      device: 'cpu',
      vram_total_bytes: null,
      vram_free_bytes: null,
      last_error: null,
      updated_at: '2026-11-22T10:00:00.000Z',
      ...status,
    },
  };
}
