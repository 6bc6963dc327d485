import type { Overview, OverviewTask, PoolStatus } from '@llama-orch/contracts';
import { mayAccess, type Identity } from '../http/auth/identity.ts';
import type { PoolView } from '../placement/place.ts';
import type { Standing } from '../tasks/queue-eta.ts';
import type { Scheduler } from '../tasks/scheduler.ts';
import type { Task } from '../tasks/task.ts';
import { taskStatus } from '../tasks/task-status.ts';
import type { Activity } from './activity.ts';

/** Live tasks listed at most (running first, then the queue's head); `live_total` counts them all. */
export const LIVE_SHOWN = 100;

/** The pools as clients see them: a pool on a node that does not answer is offline, whatever it last said. */
export function reportedPools(views: readonly PoolView[]): PoolStatus[] {
  return views.map((v) =>
    v.available ? v.status : { ...v.status, state: 'offline' as const, ready: false, live: false },
  );
}

/** One task as the page shows it; `until` is now for a live task, its end for a finished one. */
export function overviewTask(task: Task, standing: Standing | undefined, until: number): OverviewTask {
  const status = taskStatus(task, standing, until);
  const first = task.firstTokenAt;
  const decoding = first === null ? 0 : (until - first) / 1000;
  return {
    task_id: task.id,
    state: status.state,
    model: task.spec.model,
    priority: task.spec.priority,
    ...(status.pool_id === undefined ? {} : { pool_id: status.pool_id }),
    tokens_out: status.tokens_out,
    // Tokens after the first, over the time since it: the decode rate, not diluted by the queue or the prefill.
    tokens_per_s:
      first !== null && status.tokens_out > 1 && decoding > 0
        ? Math.round(((status.tokens_out - 1) / decoding) * 10) / 10
        : null,
    first_token_ms: first === null ? null : Math.max(0, first - task.admittedAt),
    age_ms: Math.max(0, until - task.admittedAt),
    ...(status.position === undefined ? {} : { position: status.position }),
    ...(status.outcome === undefined ? {} : { outcome: status.outcome }),
  };
}

export interface OverviewSource {
  readonly scheduler: Scheduler;
  readonly activity: Activity;
  readonly version: string;
}

/**
 * What `viewer` may see of the cluster now (GET /v2/overview, the page's stream): every pool and the queue's
 * totals; its own tasks only, unless it is an admin. Throughput: the kept seconds after `since` (epoch ms; 0: all).
 */
export function overviewFor(viewer: Identity, source: OverviewSource, since: number, now = Date.now()): Overview {
  const { scheduler, activity } = source;
  const queue = scheduler.queue();
  const running: Task[] = [];
  const queued: Task[] = [];
  let oldestQueuedAt: number | null = null;
  for (const task of scheduler.liveTasks()) {
    if (task.state === 'queued') oldestQueuedAt = Math.min(oldestQueuedAt ?? task.admittedAt, task.admittedAt);
    if (!mayAccess(viewer, task.spec.owner)) continue;
    (task.state === 'queued' ? queued : running).push(task);
  }
  const place = (task: Task): number => queue.standings.get(task.id)?.position ?? Number.MAX_SAFE_INTEGER;
  queued.sort((a, b) => place(a) - place(b));
  let nextStartAt: number | null = null;
  for (const standing of queue.standings.values())
    nextStartAt = Math.min(nextStartAt ?? standing.startAt, standing.startAt);
  const shown = [...running.sort((a, b) => a.admittedAt - b.admittedAt), ...queued].slice(0, LIVE_SHOWN);
  const history = activity.points();
  return {
    at: now,
    version: source.version,
    viewer: { label: viewer.label, admin: viewer.role === 'admin' },
    pools: reportedPools(scheduler.views()),
    queue: {
      depth: queue.interactive + queue.batch,
      capacity: scheduler.capacity,
      interactive: queue.interactive,
      batch: queue.batch,
      oldest_wait_ms: oldestQueuedAt === null ? null : Math.max(0, now - oldestQueuedAt),
      next_start_ms: nextStartAt === null ? null : Math.max(0, Math.round(nextStartAt - now)),
      rejected_last_minute: activity.rejectedLastMinute(),
    },
    tasks: {
      live: shown.map((task) => overviewTask(task, queue.standings.get(task.id), now)),
      live_total: running.length + queued.length,
      finished: activity
        .finished()
        .filter((f) => mayAccess(viewer, f.task.spec.owner))
        .map((f) => overviewTask(f.task, undefined, f.endedAt)),
    },
    throughput: history.filter((point) => point.t > since),
  };
}
