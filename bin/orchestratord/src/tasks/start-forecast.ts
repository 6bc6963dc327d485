import type { PoolServiceModel, TaskWork, WorkSum } from './service-times.ts';

/** One slot of a pool that serves the model: when it frees (ms from now), and its pool's service model. */
export interface ForecastSlot {
  freeInMs: number;
  readonly model: PoolServiceModel;
}

/** Binary search steps when extrapolating: the answer is found to within 2^-40 of its range. */
const SEARCH_STEPS = 40;

/**
 * When queued tasks start, simulated: the slots free at their `freeInMs` (now for a free one, the remaining time of
 * the task on it otherwise); the queued tasks, in the queue's order, each take the slot that frees first and hold it
 * for their expected time on that slot's pool. A task starts when a slot frees for it. Each step costs O(slots).
 */
export class StartForecast {
  readonly #slots: ForecastSlot[];

  constructor(slots: readonly ForecastSlot[]) {
    this.#slots = slots.map((slot) => ({ ...slot }));
  }

  get slots(): number {
    return this.#slots.length;
  }

  #first(): ForecastSlot | undefined {
    let first: ForecastSlot | undefined;
    for (const slot of this.#slots) if (first === undefined || slot.freeInMs < first.freeInMs) first = slot;
    return first;
  }

  /** When the next task could start (ms from now), without placing it. */
  next(): number {
    return this.#first()?.freeInMs ?? 0;
  }

  /** The next task in line takes the first slot to free: its start (ms from now). */
  take(work: TaskWork): number {
    const slot = this.#first();
    if (slot === undefined) return 0;
    const start = slot.freeInMs;
    slot.freeInMs = start + slot.model.slotMs(work);
    return start;
  }

  /**
   * When a task starts that waits behind `ahead` more tasks, taking each of them as the mean of `ahead` on each pool
   * (their work is summed, not listed: a deep queue is not walked). Slot s then opens at g_s, g_s + m_s, g_s + 2m_s…
   * and the task starts at the (n+1)-th opening of all slots together, found by bisection on the time.
   */
  after(ahead: WorkSum): number {
    const n = ahead.count;
    if (this.#slots.length === 0) return 0;
    if (n <= 0) return this.next();
    const slots = this.#slots.map((s) => ({ at: s.freeInMs, every: Math.max(1e-3, s.model.sumMs(ahead) / n) }));
    const openedBy = (t: number): number =>
      slots.reduce((sum, s) => sum + (t < s.at ? 0 : Math.floor((t - s.at) / s.every) + 1), 0);
    let low = Math.min(...slots.map((s) => s.at));
    let high = low + (n + 1) * Math.max(...slots.map((s) => s.every));
    for (let step = 0; step < SEARCH_STEPS; step += 1) {
      const mid = (low + high) / 2;
      if (openedBy(mid) >= n + 1) high = mid;
      else low = mid;
    }
    return high;
  }
}
