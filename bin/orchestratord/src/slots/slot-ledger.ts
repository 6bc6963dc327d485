/** A slot this orchestratord holds on a pool; `release` frees it exactly once, however often it is called. */
export interface SlotLease {
  readonly poolId: string;
  release(): void;
}

/**
 * orchestratord's one account of pool slots (invariant 2 on this side): the leases it holds itself, and the slots
 * each pool last reported busy with work that is not ours (another replica's). A pool's free slots are
 * `slots_total − ours − others`. pool-managerd stays the authority: it refuses past slots_total, so a stale view
 * here costs a retry, never an oversubscribed engine.
 */
export class SlotLedger {
  readonly #held = new Map<string, number>();
  readonly #others = new Map<string, number>();

  /** Take one slot of a pool now; the caller releases it when the dispatch ends, however it ends. */
  claim(poolId: string): SlotLease {
    this.#held.set(poolId, this.held(poolId) + 1);
    let released = false;
    return {
      poolId,
      release: () => {
        if (released) return;
        released = true;
        const left = this.held(poolId) - 1;
        if (left > 0) this.#held.set(poolId, left);
        else this.#held.delete(poolId);
      },
    };
  }

  /** Our leases on a pool. */
  held(poolId: string): number {
    return this.#held.get(poolId) ?? 0;
  }

  /** Slots the pool reported busy with work that is not ours, as of its last report. */
  others(poolId: string): number {
    return this.#others.get(poolId) ?? 0;
  }

  /**
   * A pool's report arrived: whatever it counts busy beyond our leases at this moment belongs to someone else.
   * A report can be a moment stale (a dispatch we just released may still count there); that only holds a slot
   * back until the next report, it never oversubscribes the pool.
   */
  observe(poolId: string, slotsTotal: number, slotsFree: number): void {
    this.#others.set(poolId, Math.max(0, slotsTotal - slotsFree - this.held(poolId)));
  }

  /** Slots we may still use on a pool that reported `slotsTotal`. */
  free(poolId: string, slotsTotal: number): number {
    return Math.max(0, slotsTotal - this.held(poolId) - this.others(poolId));
  }
}
