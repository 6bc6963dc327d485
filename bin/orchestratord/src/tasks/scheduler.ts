import { context, propagation, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { createParser } from 'eventsource-parser';
import { errorEnvelope, type ErrorCode, type ErrorEnvelope } from '@llama-orch/contracts';
import type { Logger } from 'pino';
import { request, type Dispatcher } from 'undici';
import { AdmissionQueue, type AdmissionPolicy } from '../admission/admission-queue.ts';
import type { OrchMetrics } from '../metrics.ts';
import { place, type Placement, type PoolView } from '../placement/place.ts';
import type { PoolPoller } from '../pools/pool-poller.ts';
import { parseEngineFrame } from './engine-stream.ts';
import type { SessionStore } from './sessions.ts';
import { ServiceTimes } from './service-times.ts';
import { Task, type TaskSpec } from './task.ts';

export type Admission =
  | { readonly kind: 'admitted'; readonly task: Task; readonly position: number; readonly predictedStartMs: number }
  | { readonly kind: 'refused'; readonly envelope: ErrorEnvelope };

const tracer = trace.getTracer('orchestratord');
const FINISHED_TASK_TTL_MS = 5 * 60_000;
/** A `metrics` event follows every this many tokens. */
const METRICS_EVERY_TOKENS = 32;

/**
 * Admission, placement and the task lifecycle. A task runs as soon as a feasible pool has a free slot
 * (our own leases count, pool-managerd refuses past slots_total); otherwise it waits in the bounded queue.
 */
export class Scheduler {
  readonly #queue: AdmissionQueue<Task>;
  readonly #poller: PoolPoller;
  readonly #agent: Dispatcher;
  readonly #sessions: SessionStore;
  readonly #metrics: OrchMetrics;
  readonly #log: Logger;
  readonly #retries: number;
  readonly #tasks = new Map<string, Task>();
  readonly #leases = new Map<string, number>();
  readonly #deadlines = new Map<string, NodeJS.Timeout>();
  readonly #admitted = { interactive: 0, batch: 0 };
  readonly #serviceTimes = new ServiceTimes();
  #stopped = false;

  constructor(options: {
    capacity: number;
    policy: AdmissionPolicy;
    poller: PoolPoller;
    agent: Dispatcher;
    sessions: SessionStore;
    metrics: OrchMetrics;
    log: Logger;
    retries: number;
  }) {
    this.#queue = new AdmissionQueue(options.capacity, options.policy);
    this.#poller = options.poller;
    this.#agent = options.agent;
    this.#sessions = options.sessions;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#retries = options.retries;
  }

  get policy(): AdmissionPolicy {
    return this.#queue.policy;
  }
  get capacity(): number {
    return this.#queue.capacity;
  }
  queueDepth(): number {
    return this.#queue.size;
  }
  leases(poolId: string): number {
    return this.#leases.get(poolId) ?? 0;
  }
  views(): PoolView[] {
    return this.#poller.views((id) => this.leases(id));
  }
  task(id: string): Task | undefined {
    return this.#tasks.get(id);
  }

  #placement(task: Task, exclude?: ReadonlySet<string>): Placement {
    return place(this.views(), {
      model: task.spec.model,
      placement: task.spec.placement,
      affinity: this.#sessions.affinity(task.spec.sessionId),
      ...(exclude ? { exclude } : {}),
    });
  }

  #slotWaitMs(model: string): number {
    return this.#serviceTimes.slotWaitMs(this.views(), model);
  }

  #updateGauges(): void {
    this.#metrics.queueDepth.set({ priority: 'interactive' }, this.#queue.depth('interactive'));
    this.#metrics.queueDepth.set({ priority: 'batch' }, this.#queue.depth('batch'));
  }

  /** Validate placement, then place at once or queue; a full queue answers with computed backoff. */
  submit(spec: TaskSpec): Admission {
    const task = new Task(spec);
    task.span = tracer.startSpan('task', {
      attributes: { 'task.id': spec.id, 'task.priority': spec.priority, 'task.model': spec.model },
    });
    const span = tracer.startSpan('admission', {}, trace.setSpan(context.active(), task.span));
    const result = this.#admit(spec, task);
    span.setAttribute('admission.outcome', result.kind === 'admitted' ? 'admitted' : result.envelope.code);
    span.end();
    if (result.kind === 'refused') {
      task.span.setStatus({ code: SpanStatusCode.ERROR, message: result.envelope.message });
      task.span.end();
    }
    return result;
  }

  /** The span context of a task, for its child spans. */
  #context(task: Task): ReturnType<typeof context.active> {
    return task.span === null ? context.active() : trace.setSpan(context.active(), task.span);
  }

  #admit(spec: TaskSpec, task: Task): Admission {
    const existing = this.#tasks.get(spec.id);
    if (existing !== undefined && !existing.ended) {
      return { kind: 'refused', envelope: errorEnvelope('CONFLICT', `task_id ${spec.id} is still live`) };
    }
    const placement = this.#placement(task);
    if (placement.kind === 'impossible') {
      this.#metrics.rejected.inc({ reason: placement.code });
      return { kind: 'refused', envelope: errorEnvelope(placement.code, placement.message) };
    }
    const outcome = this.#queue.enqueue({ id: spec.id, priority: spec.priority, item: task });
    if (outcome.kind === 'rejected') {
      const retry = Math.min(
        30_000,
        Math.max(100, this.#slotWaitMs(spec.model) * (1 + Math.floor(this.#queue.size / 4))),
      );
      this.#metrics.rejected.inc({ reason: 'ADMISSION_REJECT' });
      return {
        kind: 'refused',
        envelope: errorEnvelope(
          'ADMISSION_REJECT',
          `admission queue full (${this.#queue.capacity} tasks, policy ${this.#queue.policy})`,
          {
            retry_after_ms: retry,
            policy_label: this.#queue.policy,
          },
        ),
      };
    }
    if (outcome.evicted) this.#evict(outcome.evicted.item);
    this.#tasks.set(spec.id, task);
    this.#metrics.enqueued.inc({ priority: spec.priority });
    this.#admitted[spec.priority] += 1;
    const total = this.#admitted.interactive + this.#admitted.batch;
    this.#metrics.admissionShare.set({ priority: 'interactive' }, this.#admitted.interactive / total);
    this.#metrics.admissionShare.set({ priority: 'batch' }, this.#admitted.batch / total);
    if (spec.sessionId !== undefined) this.#sessions.touch(spec.sessionId);
    if (spec.deadlineMs !== undefined) {
      this.#deadlines.set(
        spec.id,
        setTimeout(() => this.#expire(task), spec.deadlineMs),
      );
    }
    const predictedStartMs =
      outcome.position === 0 && placement.kind === 'assigned'
        ? 0
        : (outcome.position + 1) * this.#slotWaitMs(spec.model);
    this.#updateGauges();
    this.pump();
    return { kind: 'admitted', task, position: outcome.position, predictedStartMs };
  }

  #finish(task: Task, code: ErrorCode, message: string, extra: Partial<ErrorEnvelope> = {}): void {
    const envelope = errorEnvelope(code, message, extra);
    task.emit({
      event: 'error',
      data: {
        code,
        message,
        retriable: envelope.retriable ?? false,
        ...(extra.retry_after_ms !== undefined ? { retry_after_ms: extra.retry_after_ms } : {}),
      },
    });
    this.#forget(task);
  }

  #evict(task: Task): void {
    this.#metrics.rejected.inc({ reason: 'QUEUE_FULL_DROP_LRU' });
    this.#finish(task, 'QUEUE_FULL_DROP_LRU', 'evicted from the full admission queue by newer work (policy drop-lru)', {
      retry_after_ms: this.#slotWaitMs(task.spec.model),
    });
  }

  #expire(task: Task): void {
    if (this.#queue.remove(task.id) === null) return;
    this.#updateGauges();
    this.#metrics.rejected.inc({ reason: 'DEADLINE_UNMET' });
    this.#finish(task, 'DEADLINE_UNMET', `no slot freed within deadline_ms ${task.spec.deadlineMs ?? 0}`);
  }

  #forget(task: Task): void {
    const timer = this.#deadlines.get(task.id);
    if (timer) clearTimeout(timer);
    this.#deadlines.delete(task.id);
    setTimeout(() => {
      if (this.#tasks.get(task.id) === task) this.#tasks.delete(task.id);
    }, FINISHED_TASK_TTL_MS).unref();
  }

  /** Cancel: a queued task leaves the queue; a running one stops at once (no token follows). */
  cancel(id: string, reason: 'client' | 'disconnect'): boolean {
    const task = this.#tasks.get(id);
    if (task === undefined || task.ended) return task !== undefined;
    this.#queue.remove(id);
    this.#updateGauges();
    task.abort.abort(new Error(`canceled (${reason})`));
    task.emit({ event: 'end', data: { tokens_out: task.tokensOut(), decode_ms: 0, finish_reason: 'canceled' } });
    this.#metrics.canceled.inc({ reason });
    this.#forget(task);
    return true;
  }

  /** Start every queued task that can run now. Called on admission, slot release and each poll. */
  pump(): void {
    if (this.#stopped) return;
    for (;;) {
      let assigned: PoolView | null = null;
      const entry = this.#queue.take((candidate) => {
        const placement = this.#placement(candidate.item);
        if (placement.kind === 'assigned') assigned = placement.pool;
        return placement.kind === 'assigned';
      });
      if (entry === null || assigned === null) break;
      this.#metrics.placements.inc({ outcome: 'assigned' });
      const pool: PoolView = assigned;
      tracer
        .startSpan(
          'placement',
          { attributes: { 'pool.id': pool.status.pool_id, 'pool.node': pool.nodeUrl } },
          this.#context(entry.item),
        )
        .end();
      this.#updateGauges();
      void this.#run(entry.item, assigned);
    }
  }

  async #run(task: Task, first: PoolView): Promise<void> {
    const tried = new Set<string>();
    let pool: PoolView | null = first;
    task.state = 'running';
    for (let attempt = 0; pool !== null && attempt <= this.#retries; attempt += 1) {
      tried.add(pool.status.pool_id);
      const result = await this.#dispatch(task, pool, attempt === 0);
      if (result === 'done') return;
      const next = this.#placement(task, tried);
      pool = next.kind === 'assigned' ? next.pool : null;
    }
    if (!task.ended)
      this.#finish(
        task,
        'POOL_UNAVAILABLE',
        'no pool could run the task (every attempt failed before the first token)',
        { retry_after_ms: 1000 },
      );
  }

  /** One attempt on one pool: 'done' when the task reached its terminal event, 'retry' when it may try elsewhere. */
  async #dispatch(task: Task, pool: PoolView, firstAttempt: boolean): Promise<'done' | 'retry'> {
    const poolId = pool.status.pool_id;
    const log = this.#log.child({ task_id: task.id, pool_id: poolId });
    this.#leases.set(poolId, this.leases(poolId) + 1);
    task.poolId = poolId;
    const started = Date.now();
    let firstTokenAt: number | null = null;
    let tokensIn = 0;
    let finishReason: 'stop' | 'length' = 'stop';
    let dispatchSpan: Span | null = null;
    let streamSpan: Span | null = null;
    try {
      dispatchSpan = tracer.startSpan(
        'dispatch',
        { attributes: { 'pool.id': poolId, 'dispatch.first_attempt': firstAttempt } },
        this.#context(task),
      );
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-correlation-id': task.id };
      propagation.inject(trace.setSpan(context.active(), dispatchSpan), headers);
      const answer = await request(`${pool.nodeUrl}/v2/pools/${poolId}/dispatch`, {
        method: 'POST',
        dispatcher: this.#agent,
        headers,
        body: JSON.stringify(task.spec.engine),
        signal: task.abort.signal,
        headersTimeout: 300_000,
        bodyTimeout: 300_000,
      });
      dispatchSpan.setAttribute('http.status_code', answer.statusCode);
      dispatchSpan.end();
      if (answer.statusCode !== 200) {
        const text = await answer.body.text();
        log.warn({ status: answer.statusCode, body: text.slice(0, 200) }, 'dispatch refused before the first token');
        return 'retry';
      }
      // `started` names the pool that accepted the task, so it is sent only once a dispatch is answered.
      task.emit({
        event: 'started',
        data: {
          queue_position: 0,
          predicted_start_ms: 0,
          pool_id: poolId,
          ...(pool.status.engine_version ? { engine_version: pool.status.engine_version } : {}),
        },
      });
      this.#metrics.started.inc({ pool_id: poolId, priority: task.spec.priority });
      streamSpan = tracer.startSpan('stream', { attributes: { 'pool.id': poolId } }, this.#context(task));

      const parser = createParser({
        onEvent: (event) => {
          const frame = parseEngineFrame(task.spec.engine.endpoint, event.data);
          if (frame === null || task.ended) return;
          if (frame.tokensIn !== null) tokensIn = frame.tokensIn;
          if (frame.finishReason !== null) finishReason = frame.finishReason;
          if (frame.text !== null) {
            if (firstTokenAt === null) {
              firstTokenAt = Date.now();
              this.#metrics.firstToken.observe(
                { pool_id: poolId, priority: task.spec.priority },
                firstTokenAt - task.admittedAt,
              );
            }
            task.emit({ event: 'token', data: { t: frame.text, i: task.tokensOut() } });
            const out = task.tokensOut();
            if (out % METRICS_EVERY_TOKENS === 0) {
              const seconds = (Date.now() - (firstTokenAt ?? Date.now())) / 1000;
              task.emit({
                event: 'metrics',
                data: {
                  tokens_out: out,
                  tokens_per_s: seconds > 0 ? Math.round(out / seconds) : 0,
                  queue_depth: this.#queue.size,
                },
              });
            }
          }
        },
      });
      for await (const chunk of answer.body) parser.feed((chunk as Buffer).toString('utf8'));
      if (task.ended) return 'done';
      const decodeMs = firstTokenAt === null ? 0 : Date.now() - firstTokenAt;
      const tokensOut = task.tokensOut();
      this.#metrics.tokensOut.inc({ pool_id: poolId }, tokensOut);
      this.#metrics.tokensIn.inc({ pool_id: poolId }, tokensIn);
      this.#metrics.decode.observe({ pool_id: poolId, priority: task.spec.priority }, decodeMs);
      this.#serviceTimes.record(poolId, Date.now() - started);
      task.emit({
        event: 'end',
        data: { tokens_out: tokensOut, decode_ms: decodeMs, tokens_in: tokensIn, finish_reason: finishReason },
      });
      this.#forget(task);
      return 'done';
    } catch (error) {
      if (task.ended) return 'done';
      if (firstTokenAt === null && !task.abort.signal.aborted) {
        log.warn({ err: error }, 'dispatch failed before the first token; trying another pool');
        return 'retry';
      }
      this.#finish(
        task,
        'WORKER_RESET',
        `the stream from pool ${poolId} broke after ${task.tokensOut()} tokens: ${(error as Error).message}`,
      );
      return 'done';
    } finally {
      dispatchSpan?.end();
      streamSpan?.setAttribute('tokens_out', task.tokensOut());
      streamSpan?.end();
      this.#leases.set(poolId, Math.max(0, this.leases(poolId) - 1));
      if (task.spec.sessionId !== undefined && task.ended)
        this.#sessions.recordTurn(task.spec.sessionId, poolId, task.tokensOut() > 0);
      setImmediate(() => this.pump());
    }
  }

  /** Stop taking work: every queued or running task ends with an error. */
  stop(): void {
    this.#stopped = true;
    for (const task of this.#tasks.values()) {
      if (task.ended) continue;
      this.#queue.remove(task.id);
      task.abort.abort(new Error('orchestratord stopping'));
      this.#finish(task, 'POOL_UNAVAILABLE', 'orchestratord is stopping', { retry_after_ms: 1000 });
    }
    for (const timer of this.#deadlines.values()) clearTimeout(timer);
  }
}
