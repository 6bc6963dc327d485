import { servesModel, type PoolView } from '../placement/place.ts';

const ALPHA = 0.2;
const UNMEASURED_MS = 1000;

/**
 * Measured time a task occupies a slot, per pool (an EWMA of dispatch-to-end): the basis of predicted_start_ms
 * and of the retry advice in a 429, instead of constants.
 */
export class ServiceTimes {
  readonly #ms = new Map<string, number>();

  record(poolId: string, ms: number): void {
    const previous = this.#ms.get(poolId) ?? ms;
    this.#ms.set(poolId, previous + ALPHA * (ms - previous));
  }

  /** Milliseconds until one of the pools serving `model` frees a slot. */
  slotWaitMs(views: readonly PoolView[], model: string): number {
    const pools = views.filter((v) => v.available && v.status.ready && servesModel(v, model));
    const slots = pools.reduce((sum, v) => sum + v.status.slots_total, 0);
    const service =
      pools.length === 0
        ? UNMEASURED_MS
        : pools.reduce((sum, v) => sum + (this.#ms.get(v.status.pool_id) ?? UNMEASURED_MS), 0) / pools.length;
    return Math.round(service / Math.max(1, slots));
  }
}
