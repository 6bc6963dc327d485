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
  /**
   * Which of the replica's engine slots (llama-server's `id_slot`, 0-based) a one-slot claim holds: no two guards on a
   * replica hold the same one, so a dispatch pinned to it never waits inside the engine. Null for a multi-slot claim.
   */
  readonly slot: number | null;
  /** When it was claimed (ms since the epoch). */
  readonly claimedAt: number;
  /** Aborted by `abort()` (the holder's client went away) or by the ledger's `abortAll()` (a drain's deadline). */
  readonly signal: AbortSignal;
  readonly released: boolean;
  abort(reason: Error): void;
  /** Give the slot back; true on the first call only. */
  release(): boolean;
}

/** A replica and engine slot a claim would rather have (where a session's prompt is cached), if it is free. */
export interface SlotPreference {
  readonly replicaId: string;
  /** The engine slot; null: any free slot of that replica. */
  readonly slot: number | null;
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
  /** `pool/replica` → engine slot → when it was last claimed (a counter, so that ties cannot happen). */
  readonly #slotUsedAt = new Map<string, Map<number, number>>();
  #claims = 0;

  /** When a slot of the pool was last claimed or released (ms since the epoch); 0 if never. */
  lastActive(poolId: string): number {
    return this.#activeAt.get(poolId) ?? 0;
  }

  /**
   * Claim a slot on the least loaded candidate with one free (load = in flight / slots_total, ties broken by
   * replica id); null when every candidate is full. `wants` more than one: a request the engine runs as that many
   * parallel tasks (the inputs of one embeddings request) holds as many slots of its replica, at most all of them.
   * `prefer`: that replica (and engine slot) when it has room, whatever the others' load. A one-slot claim holds the
   * preferred engine slot if free, else the replica's least recently used free one.
   */
  claim(poolId: string, candidates: readonly SlotCandidate[], wants = 1, prefer?: SlotPreference): SlotGuard | null {
    let best: {
      readonly replicaId: string;
      readonly load: number;
      readonly slots: number;
      readonly total: number;
      readonly idleSince: number;
    } | null = null;
    for (const { replicaId, slotsTotal } of candidates) {
      const held = this.inFlight(poolId, replicaId);
      const slots = Math.max(1, Math.min(wants, slotsTotal));
      if (held + slots > slotsTotal) continue;
      if (prefer?.replicaId === replicaId && slots === 1) {
        best = { replicaId, load: -1, slots, total: slotsTotal, idleSince: 0 };
        break;
      }
      const load = held / slotsTotal;
      // Equal load: the replica whose free slot was used longest ago, so that work spreads over every engine and
      // the prompts cached in the slots used last are pushed out last.
      const idleSince = this.#oldestFree(poolId, replicaId, slotsTotal);
      if (
        best === null ||
        load < best.load ||
        (load === best.load &&
          (idleSince < best.idleSince || (idleSince === best.idleSince && replicaId.localeCompare(best.replicaId) < 0)))
      )
        best = { replicaId, load, slots, total: slotsTotal, idleSince };
    }
    if (best === null) return null;
    const slot =
      best.slots === 1
        ? this.#pickSlot(poolId, best.replicaId, best.total, prefer?.replicaId === best.replicaId ? prefer.slot : null)
        : null;
    return this.#hold(poolId, best.replicaId, best.slots, slot);
  }

  /** The guard holding that engine slot now, if any (when it was claimed: `claimedAt`). */
  holder(poolId: string, replicaId: string, slot: number): SlotGuard | undefined {
    for (const guard of this.#held.get(poolId)?.get(replicaId) ?? []) if (guard.slot === slot) return guard;
    return undefined;
  }

  /** When the least recently claimed free slot of the replica was claimed (0: never). */
  #oldestFree(poolId: string, replicaId: string, total: number): number {
    const slot = this.#pickSlot(poolId, replicaId, total, null);
    return this.#slotUsedAt.get(`${poolId}/${replicaId}`)?.get(slot) ?? 0;
  }

  /** The preferred slot when free, else the free slot released longest ago (the engine's own choice: LRU). */
  #pickSlot(poolId: string, replicaId: string, total: number, preferred: number | null): number {
    const taken = new Set<number>();
    for (const guard of this.#held.get(poolId)?.get(replicaId) ?? []) if (guard.slot !== null) taken.add(guard.slot);
    if (preferred !== null && preferred < total && !taken.has(preferred)) return preferred;
    const used = this.#slotUsedAt.get(`${poolId}/${replicaId}`);
    let pick = -1;
    for (let slot = 0; slot < total; slot += 1) {
      if (taken.has(slot)) continue;
      if (pick === -1 || (used?.get(slot) ?? 0) < (used?.get(pick) ?? 0)) pick = slot;
    }
    return Math.max(0, pick);
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

  #hold(poolId: string, replicaId: string, slots: number, slot: number | null): SlotGuard {
    this.#activeAt.set(poolId, Date.now());
    if (slot !== null) {
      const key = `${poolId}/${replicaId}`;
      const used = this.#slotUsedAt.get(key) ?? new Map<number, number>();
      this.#slotUsedAt.set(key, used);
      this.#claims += 1;
      used.set(slot, this.#claims);
    }
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
      slot,
      claimedAt: Date.now(),
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
