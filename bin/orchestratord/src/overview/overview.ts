import type { Overview, PoolStatus } from '@llama-orch/contracts';
import { mayAccess, type Identity } from '../http/auth/identity.ts';
import type { PoolView } from '../placement/place.ts';
import type { Standing } from '../tasks/queue-eta.ts';
import type { Scheduler } from '../tasks/scheduler.ts';
import type { Task } from '../tasks/task.ts';
import type { Activity } from './activity.ts';
import { overviewTask } from './task-row.ts';

/** Live tasks listed at most (running first, then the queue's head); `live_total` counts them all. */
export const LIVE_SHOWN = 100;
/** A board younger than this serves every viewer that asks (all the streams of one tick share one). */
const BOARD_FRESH_MS = 250;

/** The pools as clients see them: a pool on a node that does not answer is offline, whatever it last said. */
export function reportedPools(views: readonly PoolView[]): PoolStatus[] {
  return views.map((v) =>
    v.available ? v.status : { ...v.status, state: 'offline' as const, ready: false, live: false },
  );
}

/** What every viewer sees alike at one moment, taken in one pass over the live tasks. */
interface Board {
  readonly at: number;
  readonly pools: PoolStatus[];
  readonly queue: Overview['queue'];
  /** Every live task: running ones by age, then queued ones in the order they will start. */
  readonly live: readonly Task[];
  readonly standings: ReadonlyMap<string, Standing>;
}

/**
 * What the operator page shows (GET /v2/overview and its stream, issue 20): every pool and the queue's totals to
 * everyone; tasks to their owner, and all of them to admins. The part everyone sees alike is taken once however
 * many viewers ask, so a viewer costs a filter of the live tasks and its own rows.
 */
export class Overviews {
  readonly scheduler: Scheduler;
  readonly activity: Activity;
  readonly version: string;
  #board: Board | null = null;

  constructor(scheduler: Scheduler, activity: Activity, version: string) {
    this.scheduler = scheduler;
    this.activity = activity;
    this.version = version;
  }

  #take(now: number): Board {
    if (this.#board !== null && now - this.#board.at < BOARD_FRESH_MS) return this.#board;
    const { scheduler, activity } = this;
    const queue = scheduler.queue();
    const running: Task[] = [];
    const queued: Task[] = [];
    let oldestQueuedAt: number | null = null;
    for (const task of scheduler.liveTasks()) {
      if (task.state === 'queued') {
        oldestQueuedAt = Math.min(oldestQueuedAt ?? task.admittedAt, task.admittedAt);
        queued.push(task);
      } else running.push(task);
    }
    const place = (task: Task): number => queue.standings.get(task.id)?.position ?? Number.MAX_SAFE_INTEGER;
    queued.sort((a, b) => place(a) - place(b));
    running.sort((a, b) => a.admittedAt - b.admittedAt);
    let nextStartAt: number | null = null;
    for (const standing of queue.standings.values())
      nextStartAt = Math.min(nextStartAt ?? standing.startAt, standing.startAt);
    this.#board = {
      at: now,
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
      live: [...running, ...queued],
      standings: queue.standings,
    };
    return this.#board;
  }

  /** What `viewer` may see now; throughput: the kept seconds after `since` (epoch ms; 0: all of them). */
  for(viewer: Identity, since: number, now = Date.now()): Overview {
    const board = this.#take(now);
    const admin = viewer.role === 'admin';
    const shown: Task[] = [];
    let visible = 0;
    for (const task of board.live) {
      if (!mayAccess(viewer, task.spec.owner)) continue;
      visible += 1;
      if (shown.length < LIVE_SHOWN) shown.push(task);
    }
    return {
      at: board.at,
      version: this.version,
      viewer: { label: viewer.label, admin },
      pools: board.pools,
      queue: board.queue,
      tasks: {
        live: shown.map((task) => overviewTask(task, board.standings.get(task.id), board.at)),
        live_total: visible,
        finished: [...this.activity.finished(admin ? undefined : viewer.owner)],
      },
      throughput: this.activity.points().filter((point) => point.t > since),
    };
  }
}
