import { errorEnvelope, type ErrorEnvelope, type PoolKind, type Priority } from '@llama-orch/contracts';
import { countRefusal, type OrchMetrics } from '../metrics.ts';
import type { TaskSpec } from './task.ts';

/**
 * Tasks with the same model, placement request, context demand and pool kind are feasible on the same pools: one
 * queue class.
 */
export const placementClass = (spec: Pick<TaskSpec, 'model' | 'placement' | 'hints'>, kind: PoolKind): string =>
  JSON.stringify([
    spec.model,
    spec.placement ?? null,
    spec.hints?.ctx ?? 0,
    spec.hints?.determinism === 'strict',
    kind,
  ]);

/** An admission refused with `envelope`, counted under the pool label (`none` when not bound to one). */
export function refusal(
  metrics: OrchMetrics,
  poolLabel: string,
  envelope: ErrorEnvelope,
): { readonly kind: 'refused'; readonly envelope: ErrorEnvelope } {
  countRefusal(metrics, poolLabel, envelope.code);
  return { kind: 'refused', envelope };
}

/** A full queue under the reject policy: retry when the forecast says a slot frees. */
export const queueFull = (capacity: number, policy: string, retryAfterMs: number): ErrorEnvelope =>
  errorEnvelope('ADMISSION_REJECT', `admission queue full (${capacity} tasks, policy ${policy})`, {
    retry_after_ms: retryAfterMs,
    policy_label: policy,
  });

/** Count an admitted task: by priority, by pool, and each priority's share of all admitted so far. */
export function countAdmitted(
  metrics: OrchMetrics,
  admitted: Record<Priority, number>,
  priority: Priority,
  poolLabel: string,
): void {
  metrics.enqueued.inc({ priority });
  metrics.admissionEnqueued.inc({ pool_id: poolLabel, outcome: 'admitted' });
  admitted[priority] += 1;
  const total = admitted.interactive + admitted.batch;
  metrics.admissionShare.set({ priority: 'interactive' }, admitted.interactive / total);
  metrics.admissionShare.set({ priority: 'batch' }, admitted.batch / total);
}
