import type { PoolStatus } from '@llama-orch/contracts';

/** One pool as the orchestrator sees it: its last polled status plus our own count of leases on it. */
export interface PoolView {
  readonly nodeUrl: string;
  readonly status: PoolStatus;
  readonly available: boolean;
  readonly leases: number;
  /** Slots the pool reported busy with work that is not ours (another orchestratord replica, say). */
  readonly othersBusy: number;
}
