/**
 * Overload: many clients at once against the default admission queue (64). Every answer must be 202 or 429 with
 * Retry-After, every admitted task must end with exactly one terminal event, and orchestratord's memory is read
 * before, at the peak and after the burst.
 */
import { startCluster } from '../src/cluster.ts';
import { rssMb } from '../src/proc-usage.ts';
import { runTask, tally, type TaskRun } from './tasks.ts';

export interface OverloadResult {
  readonly concurrent: number;
  readonly statuses: Record<string, number>;
  /** 429 answers without a Retry-After header: must be 0. */
  readonly refusedWithoutRetryAfter: number;
  readonly admitted: number;
  /** Admitted tasks whose stream had exactly one terminal event and nothing after it. */
  readonly whole: number;
  readonly outcomes: Record<string, number>;
  readonly followErrors: readonly string[];
  readonly rssIdleMb: number;
  readonly rssPeakMb: number;
  /** Five seconds after the last task ended. */
  readonly rssAfterMb: number;
  readonly wallMs: number;
}

export async function measureOverload(concurrent: number): Promise<OverloadResult> {
  const cluster = await startCluster([[{ id: 'demo', slots: 2 }]]);
  try {
    const pid = cluster.orchestrator.proc.child.pid;
    const rssIdleMb = await rssMb(pid);
    let rssPeakMb = rssIdleMb;
    const sampler = setInterval(() => {
      void rssMb(pid).then((mb) => (rssPeakMb = Math.max(rssPeakMb, mb)));
    }, 100);
    const started = Date.now();
    let runs: TaskRun[];
    try {
      runs = await Promise.all(
        Array.from({ length: concurrent }, (_, i) =>
          runTask(cluster.url, { task_id: `burst-${i}`, model_ref: 'demo', prompt: 'Hello', max_tokens: 8 }, 120_000),
        ),
      );
    } finally {
      clearInterval(sampler);
    }
    const wallMs = Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const rssAfterMb = await rssMb(pid);
    const admitted = runs.filter((r) => r.status === 202);
    return {
      concurrent,
      statuses: tally(runs.map((r) => String(r.status))),
      refusedWithoutRetryAfter: runs.filter((r) => r.status === 429 && r.retryAfter === null).length,
      admitted: admitted.length,
      whole: admitted.filter((r) => r.terminals === 1 && r.afterTerminal === 0).length,
      outcomes: tally(admitted.map((r) => r.outcome)),
      followErrors: admitted.flatMap((r) => (r.followError === null ? [] : [`${r.id}: ${r.followError}`])).slice(0, 5),
      rssIdleMb,
      rssPeakMb,
      rssAfterMb,
      wallMs,
    };
  } finally {
    await cluster.cleanup();
  }
}
