/** A replica that may take a dispatch as the registry sees it: healthy and in the pool's active generation. */
export interface SlotCandidate {
  readonly replicaId: string;
  readonly slotsTotal: number;
}

/**
 * One claimed slot. It is released exactly once: `release()` may be called on every exit path and says whether
 * this call was the one that gave the slot back.
 */
export interface SlotGuard {
  readonly poolId: string;
  readonly replicaId: string;
  /** How many of the replica's slots it holds: 1, or more for a request the engine splits (embedding inputs). */
  readonly slots: number;
  /** Aborted by `abort()` (the holder's client went away) or by the ledger's `abortAll()` (a drain's deadline). */
  readonly signal: AbortSignal;
  readonly released: boolean;
  abort(reason: Error): void;
  /** Give the slot back; true on the first call only. */
  release(): boolean;
}

/** The counts the pool status projection reads. */
export interface SlotCounts {
  /** Slots held now, of one replica or of the whole pool. */
  inFlight(poolId: string, replicaId?: string): number;
}

/**
 * pool-managerd's one record of what is in flight on its engines (invariant 2: never more than a replica's
 * slots_total). Only pool-managerd talks to its engines, so this count is exact; the engine's own /slots lags.
 */
export class SlotLedger implements SlotCounts {
  /** pool → replica → the guards holding its slots. */
  readonly #held = new Map<string, Map<string, Set<SlotGuard>>>();
  /** pool → callbacks waiting for it to have nothing in flight. */
  readonly #idleWaiters = new Map<string, Set<() => void>>();
  /** pool → when a slot of it was last claimed or released (ms since the epoch). */
  readonly #activeAt = new Map<string, number>();

  /** When a slot of the pool was last claimed or released (ms since the epoch); 0 if never. */
  lastActive(poolId: string): number {
    return this.#activeAt.get(poolId) ?? 0;
  }

  /**
   * Claim a slot on the least loaded candidate with one free (load = in flight / slots_total, ties broken by
   * replica id); null when every candidate is full. `wants` more than one: a request the engine runs as that many
   * parallel tasks (the inputs of one embeddings request) holds as many slots of its replica, at most all of them.
   */
  claim(poolId: string, candidates: readonly SlotCandidate[], wants = 1): SlotGuard | null {
    let best: { readonly replicaId: string; readonly load: number; readonly slots: number } | null = null;
    for (const { replicaId, slotsTotal } of candidates) {
      const held = this.inFlight(poolId, replicaId);
      const slots = Math.max(1, Math.min(wants, slotsTotal));
      if (held + slots > slotsTotal) continue;
      const load = held / slotsTotal;
      if (best === null || load < best.load || (load === best.load && replicaId.localeCompare(best.replicaId) < 0))
        best = { replicaId, load, slots };
    }
    return best === null ? null : this.#hold(poolId, best.replicaId, best.slots);
  }

  inFlight(poolId: string, replicaId?: string): number {
    const replicas = this.#held.get(poolId);
    if (replicas === undefined) return 0;
    const held = (guards: ReadonlySet<SlotGuard> | undefined): number => {
      let sum = 0;
      for (const guard of guards ?? []) sum += guard.slots;
      return sum;
    };
    if (replicaId !== undefined) return held(replicas.get(replicaId));
    let sum = 0;
    for (const guards of replicas.values()) sum += held(guards);
    return sum;
  }

  /** Abort every slot of a pool still held (a drain past its deadline); returns how many. Holders release them. */
  abortAll(poolId: string, reason: Error = new Error('pool drained')): number {
    const guards = [...(this.#held.get(poolId)?.values() ?? [])].flatMap((set) => [...set]);
    for (const guard of guards) guard.abort(reason);
    return guards.length;
  }

  /** Resolves true once the pool holds no slot, or false when `timeoutMs` passes first. */
  whenIdle(poolId: string, timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.inFlight(poolId) === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiters = this.#idleWaiters.get(poolId) ?? new Set<() => void>();
      this.#idleWaiters.set(poolId, waiters);
      let timer: NodeJS.Timeout | undefined;
      const onIdle = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      waiters.add(onIdle);
      if (Number.isFinite(timeoutMs))
        timer = setTimeout(() => {
          waiters.delete(onIdle);
          resolve(false);
        }, timeoutMs);
    });
  }

  #hold(poolId: string, replicaId: string, slots: number): SlotGuard {
    this.#activeAt.set(poolId, Date.now());
    const replicas = this.#held.get(poolId) ?? new Map<string, Set<SlotGuard>>();
    this.#held.set(poolId, replicas);
    const guards = replicas.get(replicaId) ?? new Set<SlotGuard>();
    replicas.set(replicaId, guards);
    const controller = new AbortController();
    let released = false;
    const guard: SlotGuard = {
      poolId,
      replicaId,
      slots,
      signal: controller.signal,
      get released() {
        return released;
      },
      abort: (reason) => {
        if (!released) controller.abort(reason);
      },
      release: () => {
        if (released) return false;
        released = true;
        this.#free(poolId, replicaId, guard);
        return true;
      },
    };
    guards.add(guard);
    return guard;
  }

  #free(poolId: string, replicaId: string, guard: SlotGuard): void {
    this.#activeAt.set(poolId, Date.now());
    const replicas = this.#held.get(poolId);
    const guards = replicas?.get(replicaId);
    guards?.delete(guard);
    if (guards?.size === 0) replicas?.delete(replicaId);
    if (replicas?.size !== 0) return;
    this.#held.delete(poolId);
    const waiters = this.#idleWaiters.get(poolId);
    this.#idleWaiters.delete(poolId);
    for (const waiter of waiters ?? []) waiter();
  }
}
