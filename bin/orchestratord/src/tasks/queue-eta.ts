import { poolKindOf, type PoolKind } from '@llama-orch/contracts';
import type { AdmissionQueue } from '../admission/admission-queue.ts';
import { servesModel, type PoolView } from '../placement/place.ts';
import { WorkSum, type ServiceTimes } from './service-times.ts';
import { StartForecast, type ForecastSlot } from './start-forecast.ts';
import type { Task } from './task.ts';

/** A queue no deeper than this is walked task by task at admission; a deeper one is priced by its summed work. */
export const EXACT_AHEAD = 64;
/** How often a waiting task hears where it stands. */
export const QUEUED_EVENT_MS = 2_000;
/**
 * A tick passes over a task told less than this ago (at its admission, when the ticker already ran for others), so
 * its events come 0.8 to 1.8 QUEUED_EVENT_MS apart, never at the next tick's whim.
 */
const QUEUED_EVENT_MIN_GAP_MS = 0.8 * QUEUED_EVENT_MS;
/** How long one walk of the queue answers GET /v2/tasks/{id} (a walk costs O(queue)). */
const STANDINGS_TTL_MS = 250;
/** Bounds of the advised retry delay of a refusal. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 30_000;

/** Where a queued task stands: its 0-based place in the queue's order and when it is predicted to start. */
export interface Standing {
  readonly position: number;
  /** Epoch ms. */
  readonly startAt: number;
}

interface QueuedSums {
  readonly interactive: WorkSum;
  readonly batch: WorkSum;
}

const groupOf = (task: Task): string => `${task.kind} ${task.spec.model}`;

/**
 * Predicted starts from measured service times (issue 19). The slots of the pools serving a task's model free when
 * the tasks on them end (their remaining time from their progress and the pool's model); the tasks ahead of it in
 * the queue's real order (interactive first, FIFO within a priority) take those slots in turn, each for its own
 * expected time; it starts when a slot frees for it.
 *
 * Cost: at admission, a queue of up to EXACT_AHEAD tasks is simulated task by task; a deeper one is not walked —
 * the work queued per model and priority is kept as running sums, and the tasks ahead are extrapolated as that many
 * tasks of their mean time on each pool (O(slots) per admission, whatever the depth). The walk of the whole queue
 * (O(queue × slots)) happens only every QUEUED_EVENT_MS for the `queued` events and, at most every
 * STANDINGS_TTL_MS, for GET /v2/tasks/{id}.
 */
export class QueueEta {
  readonly #times: ServiceTimes;
  readonly #views: () => PoolView[];
  /** The admission queue, read only: its tasks in their order, and its depth. */
  readonly #queue: Pick<AdmissionQueue<Task>, 'entries' | 'size'>;
  readonly #queued = new Set<Task>();
  readonly #sums = new Map<string, QueuedSums>();
  readonly #running = new Set<Task>();
  #standings: { readonly at: number; readonly byId: Map<string, Standing> } | null = null;
  #ticker: NodeJS.Timeout | null = null;

  constructor(
    serviceTimes: ServiceTimes,
    views: () => PoolView[],
    queue: Pick<AdmissionQueue<Task>, 'entries' | 'size'>,
  ) {
    this.#times = serviceTimes;
    this.#views = views;
    this.#queue = queue;
  }

  #sumsOf(task: Task): QueuedSums {
    const key = groupOf(task);
    let sums = this.#sums.get(key);
    if (sums === undefined) this.#sums.set(key, (sums = { interactive: new WorkSum(), batch: new WorkSum() }));
    return sums;
  }

  /** The task entered the queue (admitted, or back from a dispatch that sent nothing). */
  enqueued(task: Task): void {
    this.#running.delete(task);
    if (this.#queued.has(task)) return;
    this.#queued.add(task);
    this.#sumsOf(task)[task.spec.priority].add(task.work);
    this.#ticker ??= setInterval(() => this.announce(), QUEUED_EVENT_MS).unref();
  }

  /** The task left the queue: placed, or ended (canceled, expired, evicted, failed). */
  #dequeued(task: Task): void {
    if (!this.#queued.delete(task)) return;
    const sums = this.#sumsOf(task);
    sums[task.spec.priority].add(task.work, -1);
    if (sums.interactive.count === 0 && sums.batch.count === 0) this.#sums.delete(groupOf(task));
  }

  /** A slot was taken for the task: it runs until it ends or comes back to the queue. */
  dispatched(task: Task): void {
    this.#dequeued(task);
    task.dispatched();
    this.#running.add(task);
  }

  /** The task ended: a normal end teaches its pool's model how long it took. */
  ended(task: Task): void {
    this.#dequeued(task);
    if (!this.#running.delete(task)) return;
    const end = task.events.at(-1);
    if (end?.event !== 'end' || end.data.finish_reason === 'canceled') return;
    const { poolId, dispatchedAt, startedAt, firstTokenAt } = task;
    if (poolId === null || dispatchedAt === null || startedAt === null) return;
    this.#times.observe(poolId, {
      work: task.work,
      tokensIn: end.data.tokens_in ?? null,
      tokensOut: end.data.tokens_out,
      startLagMs: startedAt - dispatchedAt,
      firstTokenMs: firstTokenAt === null ? null : firstTokenAt - dispatchedAt,
      totalMs: Date.now() - dispatchedAt,
    });
  }

  /**
   * The slots of the pools that can serve the group, each with when it frees (ms from now) and its pool's model. A
   * model whose pools are all coming up (loaded on demand) gets their slots after `comingInMs`.
   */
  #slots(kind: PoolKind, model: string, views: readonly PoolView[], comingInMs = 0): ForecastSlot[] {
    const now = Date.now();
    const pools = views.filter(
      (v) => v.available && !v.status.draining && servesModel(v, model) && poolKindOf(v.status) === kind,
    );
    const ready = pools.filter((v) => v.status.ready);
    const base = ready.length > 0 ? 0 : comingInMs;
    const slots: ForecastSlot[] = [];
    for (const pool of ready.length > 0 ? ready : pools) {
      const poolId = pool.status.pool_id;
      const service = this.#times.model(poolId);
      const busy: number[] = [];
      for (const task of this.#running) {
        if (task.poolId !== poolId) continue;
        const elapsed = now - (task.dispatchedAt ?? now);
        busy.push(service.remainingMs(task.work, elapsed, task.tokensOut(), task.firstTokenAt !== null));
      }
      busy.sort((a, b) => a - b);
      const count = Math.max(1, pool.status.slots_total, busy.length);
      for (let i = 0; i < count; i += 1) slots.push({ freeInMs: Math.max(base, busy[i] ?? 0), model: service });
    }
    return slots;
  }

  /** The mean dispatch-to-`started` lag of the slots' pools: a start is seen when the pool answers. */
  static #lag(slots: readonly ForecastSlot[]): number {
    return slots.length === 0 ? 0 : slots.reduce((sum, s) => sum + s.model.startLagMs, 0) / slots.length;
  }

  /**
   * The predicted start (ms from now) of a task just queued at `position`, behind every queued task of its priority
   * and before (call it before `enqueued`). `comingInMs`: how long the pool it waits for takes to load, if it loads.
   */
  atAdmission(task: Task, position: number, comingInMs = 0): number {
    const slots = this.#slots(task.kind, task.spec.model, this.#views(), comingInMs);
    if (slots.length === 0) return comingInMs;
    const forecast = new StartForecast(slots);
    let start: number;
    if (this.#queue.size <= EXACT_AHEAD) {
      const group = groupOf(task);
      for (const entry of this.#queue.entries().slice(0, position))
        if (groupOf(entry.item) === group) forecast.take(entry.item.work);
      start = forecast.next();
    } else {
      const sums = this.#sums.get(groupOf(task));
      const ahead =
        sums === undefined
          ? new WorkSum()
          : task.spec.priority === 'interactive'
            ? sums.interactive
            : WorkSum.of(sums.interactive, sums.batch);
      start = forecast.after(ahead);
    }
    return Math.max(1, Math.round(start + QueueEta.#lag(slots)));
  }

  /** When the first of the pool's busy slots is predicted to free (ms from now); 0 when nothing runs there. */
  slotFreeInMs(poolId: string): number {
    const now = Date.now();
    const service = this.#times.model(poolId);
    let soonest = Number.POSITIVE_INFINITY;
    for (const task of this.#running) {
      if (task.poolId !== poolId) continue;
      const elapsed = now - (task.dispatchedAt ?? now);
      soonest = Math.min(
        soonest,
        service.remainingMs(task.work, elapsed, task.tokensOut(), task.firstTokenAt !== null),
      );
    }
    return Number.isFinite(soonest) ? soonest : 0;
  }

  /** The pool's measured prefill cost per prompt token (ms). */
  prefillMs(poolId: string): number {
    return this.#times.model(poolId).rates.prefillMs;
  }

  /** A refusal's advised delay: when the first slot of the task's pools frees (a place in the queue opens then). */
  retryAfterMs(task: Task): number {
    const slots = this.#slots(task.kind, task.spec.model, this.#views());
    const next = new StartForecast(slots).next() + QueueEta.#lag(slots);
    return Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, Math.round(next)));
  }

  /** Every queued task's standing, from one walk of the queue in its order (cached for STANDINGS_TTL_MS). */
  standings(fresh = false): ReadonlyMap<string, Standing> {
    const now = Date.now();
    if (!fresh && this.#standings !== null && now - this.#standings.at < STANDINGS_TTL_MS) return this.#standings.byId;
    const views = this.#views();
    const forecasts = new Map<string, { forecast: StartForecast; lag: number }>();
    const byId = new Map<string, Standing>();
    for (const [position, entry] of this.#queue.entries().entries()) {
      const task = entry.item;
      const group = groupOf(task);
      let sim = forecasts.get(group);
      if (sim === undefined) {
        const slots = this.#slots(task.kind, task.spec.model, views);
        forecasts.set(group, (sim = { forecast: new StartForecast(slots), lag: QueueEta.#lag(slots) }));
      }
      byId.set(task.id, { position, startAt: now + sim.forecast.take(task.work) + sim.lag });
    }
    this.#standings = { at: now, byId };
    return byId;
  }

  /**
   * Tell every waiting task someone follows where it stands (the `queued` event); stops ticking once the queue is
   * empty. A task nobody follows is passed over, and the queue is not walked when nobody follows any: a deep queue
   * of submitted-and-forgotten tasks costs nothing here.
   */
  announce(): void {
    const depth = this.#queue.size;
    if (depth === 0) {
      this.stop();
      return;
    }
    const now = Date.now();
    let standings: ReadonlyMap<string, Standing> | null = null;
    for (const task of this.#queued) {
      if (!task.followed || now - (task.queuedAnnouncedAt ?? 0) < QUEUED_EVENT_MIN_GAP_MS) continue;
      standings ??= this.standings(true);
      this.#tell(task, standings, now, depth);
    }
  }

  /**
   * A client begins to follow a waiting task: it hears at once where the task stands, worked out now unless the task
   * was told less than QUEUED_EVENT_MIN_GAP_MS ago (its followers are not told twice; the newcomer gets that event).
   */
  announceTo(task: Task): void {
    const now = Date.now();
    if (!this.#queued.has(task) || now - (task.queuedAnnouncedAt ?? 0) < QUEUED_EVENT_MIN_GAP_MS) return;
    this.#tell(task, this.standings(), now, this.#queue.size);
  }

  #tell(task: Task, standings: ReadonlyMap<string, Standing>, now: number, depth: number): void {
    const standing = standings.get(task.id);
    if (standing === undefined) return;
    task.announceQueued({
      position: standing.position,
      predicted_start_ms: Math.max(0, Math.round(standing.startAt - now)),
      queue_depth: depth,
    });
  }

  stop(): void {
    if (this.#ticker !== null) clearInterval(this.#ticker);
    this.#ticker = null;
  }
}
