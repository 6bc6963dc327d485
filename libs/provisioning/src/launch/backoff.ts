export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Give up when this many restarts happen within windowMs (a restart storm). */
  readonly stormRestarts: number;
  readonly stormWindowMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 1000,
  maxMs: 30_000,
  stormRestarts: 5,
  stormWindowMs: 60_000,
};

/** Delay before the n-th consecutive restart (n ≥ 1): doubling from initialMs, capped, ±10 % jitter. */
export function restartDelay(policy: BackoffPolicy, n: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(n - 1, 20));
  return Math.min(policy.maxMs, Math.round(base * (0.9 + 0.2 * random())));
}

/** Restarts within the storm window, including one at `now`, exceed the limit. */
export function isStorm(policy: BackoffPolicy, restartTimes: readonly number[], now: number): boolean {
  return restartTimes.filter((t) => now - t < policy.stormWindowMs).length >= policy.stormRestarts;
}
