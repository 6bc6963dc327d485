/**
 * Where a model's engines would fit (issue 18, memory-aware residency): pure decisions over what is resident, so
 * that they are tested without engines. A pool's memory is its estimate (PROV-2041) summed over its replicas.
 */

/** One pool as the planner sees it. */
export interface ResidentPool {
  readonly poolId: string;
  /** false: loaded always, never unloaded to make room. */
  readonly onDemand: boolean;
  /** Whether its engines hold memory now (loading, ready or unloading). */
  readonly resident: boolean;
  /** Ready, nothing in flight and no slot claimed or released within the idle grace: it may be unloaded now. */
  readonly idle: boolean;
  /** Ready and on demand, with work in flight: unloaded only by a swap that waited past max_swap_wait_ms. */
  readonly busy: boolean;
  /** When it last served (ms since the epoch): the least recent goes first. */
  readonly lastActive: number;
  /** Bytes its engines hold, or null before the model's header has been read. */
  readonly estimate: number | null;
  readonly device: 'cpu' | 'cuda';
  /** The GPU indexes it runs on; empty on CPU, and on CUDA for "every GPU". */
  readonly gpus: readonly number[];
}

/** The memory a pool's engines draw from: the CPU budget, or its GPUs' memory. */
export interface Domain {
  readonly device: 'cpu' | 'cuda';
  readonly gpus: readonly number[];
  /** Bytes the pools of this domain may hold together; Infinity when nothing limits them. */
  readonly capacity: number;
}

export type RoomPlan =
  | { readonly kind: 'fits' }
  /** Unload these idle pools (least recently used first), then it fits. */
  | { readonly kind: 'evict'; readonly victims: readonly string[] }
  /** Not now: these busy pools hold the memory; after max_swap_wait_ms they are swapped out (`victims`). */
  | { readonly kind: 'wait'; readonly reason: string; readonly victims: readonly string[] }
  /** Never, even with every pool loaded on demand unloaded. */
  | { readonly kind: 'never'; readonly reason: string };

/** Whether two pools draw on the same memory: CPU with CPU; CUDA pools that share a GPU ("every GPU" shares all). */
export function sharesMemory(a: { device: string; gpus: readonly number[] }, domain: Domain): boolean {
  if (a.device !== domain.device) return false;
  if (a.device === 'cpu') return true;
  if (a.gpus.length === 0 || domain.gpus.length === 0) return true;
  return a.gpus.some((gpu) => domain.gpus.includes(gpu));
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/**
 * What it takes to load `need` bytes into `domain` beside `others` (the pool itself excluded). Idle pools loaded on
 * demand are unloaded least recently used first; busy ones only as `wait` victims; pools loaded always never.
 */
export function planRoom(need: number, domain: Domain, others: readonly ResidentPool[]): RoomPlan {
  const mine = others.filter((p) => p.resident && sharesMemory(p, domain));
  const pinned = mine.filter((p) => !p.onDemand).reduce((sum, p) => sum + (p.estimate ?? 0), 0);
  if (need + pinned > domain.capacity) {
    const held = pinned > 0 ? ` beside ${mib(pinned)} held by pools loaded always` : '';
    return {
      kind: 'never',
      reason: `its engines need about ${mib(need)}${held}, more than the ${mib(domain.capacity)} ${
        domain.device === 'cpu' ? 'of memory_budget_bytes' : 'its GPUs can give'
      }`,
    };
  }
  let used = mine.reduce((sum, p) => sum + (p.estimate ?? 0), 0);
  if (used + need <= domain.capacity) return { kind: 'fits' };
  const byAge = (a: ResidentPool, b: ResidentPool): number =>
    a.lastActive - b.lastActive || a.poolId.localeCompare(b.poolId);
  const victims: string[] = [];
  for (const pool of mine.filter((p) => p.onDemand && p.idle).sort(byAge)) {
    victims.push(pool.poolId);
    used -= pool.estimate ?? 0;
    if (used + need <= domain.capacity) return { kind: 'evict', victims };
  }
  // Idle ones are not enough: the rest is held by busy pools, which go (least recently used first) only after a wait.
  const swapped = [...victims];
  for (const pool of mine.filter((p) => p.onDemand && p.busy).sort(byAge)) {
    swapped.push(pool.poolId);
    used -= pool.estimate ?? 0;
    if (used + need <= domain.capacity) break;
  }
  const busy = mine.filter((p) => p.onDemand && !p.idle).map((p) => p.poolId);
  return {
    kind: 'wait',
    reason: `memory held by pools with work: ${busy.sort().join(', ') || 'pools being loaded or unloaded'}`,
    victims: swapped,
  };
}
