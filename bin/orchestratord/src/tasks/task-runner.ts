import { context, propagation, trace, type Span } from '@opentelemetry/api';
import type { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import type { Logger } from 'pino';
import type { OrchMetrics } from '../metrics.ts';
import type { Placement, PoolView } from '../placement/place.ts';
import type { SlotLedger } from '../slots/slot-ledger.ts';
import type { ServiceTimes } from './service-times.ts';
import type { SessionStore } from './sessions.ts';
import type { Task } from './task.ts';

/** A `metrics` event follows every this many tokens. */
const METRICS_EVERY_TOKENS = 32;
const tracer = trace.getTracer('orchestratord');

export interface TaskRunnerDeps {
  readonly client: PoolManagerdClient;
  readonly ledger: SlotLedger;
  readonly sessions: SessionStore;
  readonly metrics: OrchMetrics;
  readonly serviceTimes: ServiceTimes;
  readonly log: Logger;
  /** Dispatch attempts after the first, each on another pool, while no token was sent. */
  readonly retries: number;
  /** Placement for a retry, excluding the pools that already failed this task. */
  readonly replace: (task: Task, exclude: ReadonlySet<string>) => Placement;
  readonly queueDepth: () => number;
  /** A slot was released: queued work may start. */
  readonly onSlotFreed: () => void;
}

/** The span context of a task, for its child spans. */
export function taskContext(task: Task): ReturnType<typeof context.active> {
  return task.span === null ? context.active() : trace.setSpan(context.active(), task.span);
}

/**
 * Runs one placed task to its terminal event: dispatch through pool-managerd with a slot held, relay the engine's
 * frames as task events, retry on another pool while nothing was sent, and end the task exactly once.
 */
export class TaskRunner {
  readonly #deps: TaskRunnerDeps;

  constructor(deps: TaskRunnerDeps) {
    this.#deps = deps;
  }

  async run(task: Task, first: PoolView): Promise<void> {
    const tried = new Set<string>();
    let pool: PoolView | null = first;
    task.state = 'running';
    for (let attempt = 0; pool !== null && attempt <= this.#deps.retries; attempt += 1) {
      tried.add(pool.status.pool_id);
      if ((await this.#attempt(task, pool, attempt === 0)) === 'done') return;
      const next = this.#deps.replace(task, tried);
      pool = next.kind === 'assigned' ? next.pool : null;
    }
    task.fail('POOL_UNAVAILABLE', 'no pool could run the task (every attempt failed before the first token)', {
      retry_after_ms: 1000,
    });
  }

  /** One attempt on one pool: 'done' when the task reached its terminal event, 'retry' when it may try elsewhere. */
  async #attempt(task: Task, pool: PoolView, firstAttempt: boolean): Promise<'done' | 'retry'> {
    const { metrics, log: rootLog } = this.#deps;
    const poolId = pool.status.pool_id;
    const priority = task.spec.priority;
    const log = rootLog.child({ task_id: task.id, pool_id: poolId });
    const lease = this.#deps.ledger.claim(poolId);
    task.poolId = poolId;
    const started = Date.now();
    let firstTokenAt: number | null = null;
    let tokensIn = 0;
    let finishReason: 'stop' | 'length' = 'stop';
    let streamSpan: Span | null = null;
    const dispatchSpan = tracer.startSpan(
      'dispatch',
      { attributes: { 'pool.id': poolId, 'dispatch.first_attempt': firstAttempt } },
      taskContext(task),
    );
    try {
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), dispatchSpan), headers);
      const answer = await this.#deps.client.dispatch(pool.nodeUrl, poolId, task.spec.engine, {
        signal: task.abort.signal,
        correlationId: task.id,
        headers,
      });
      dispatchSpan.setAttribute('dispatch.outcome', answer.kind);
      dispatchSpan.end();
      if (answer.kind !== 'streaming') {
        if (task.ended) return 'done';
        log.warn(
          answer.kind === 'refused'
            ? { status: answer.status, code: answer.envelope.code, reason: answer.envelope.message }
            : { reason: answer.reason },
          'dispatch refused before the first token',
        );
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
      metrics.started.inc({ pool_id: poolId, priority });
      streamSpan = tracer.startSpan('stream', { attributes: { 'pool.id': poolId } }, taskContext(task));
      for await (const frame of answer.frames) {
        if (task.ended) break;
        if (frame.tokensIn !== null) tokensIn = frame.tokensIn;
        if (frame.finishReason !== null) finishReason = frame.finishReason;
        if (frame.text === null) continue;
        if (firstTokenAt === null) {
          firstTokenAt = Date.now();
          metrics.firstToken.observe({ pool_id: poolId, priority }, firstTokenAt - task.admittedAt);
        }
        const index = task.tokensOut();
        task.emit({ event: 'token', data: { t: frame.text, i: index } });
        const out = index + 1;
        if (out % METRICS_EVERY_TOKENS === 0) {
          const seconds = (Date.now() - firstTokenAt) / 1000;
          task.emit({
            event: 'metrics',
            data: {
              tokens_out: out,
              tokens_per_s: seconds > 0 ? Math.round(out / seconds) : 0,
              queue_depth: this.#deps.queueDepth(),
            },
          });
        }
      }
      if (task.ended) return 'done';
      const decodeMs = firstTokenAt === null ? 0 : Date.now() - firstTokenAt;
      const tokensOut = task.tokensOut();
      metrics.tokensOut.inc({ pool_id: poolId }, tokensOut);
      metrics.tokensIn.inc({ pool_id: poolId }, tokensIn);
      metrics.decode.observe({ pool_id: poolId, priority }, decodeMs);
      this.#deps.serviceTimes.record(poolId, Date.now() - started);
      task.emit({
        event: 'end',
        data: { tokens_out: tokensOut, decode_ms: decodeMs, tokens_in: tokensIn, finish_reason: finishReason },
      });
      return 'done';
    } catch (error) {
      if (task.ended) return 'done';
      if (firstTokenAt === null && !task.abort.signal.aborted) {
        log.warn({ err: error }, 'dispatch failed before the first token; trying another pool');
        return 'retry';
      }
      task.fail(
        'WORKER_RESET',
        `the stream from pool ${poolId} broke after ${task.tokensOut()} tokens: ${(error as Error).message}`,
      );
      return 'done';
    } finally {
      dispatchSpan.end();
      streamSpan?.setAttribute('tokens_out', task.tokensOut());
      streamSpan?.end();
      lease.release();
      if (task.spec.sessionId !== undefined && task.ended)
        this.#deps.sessions.recordTurn(task.spec.sessionId, poolId, task.tokensOut() > 0);
      setImmediate(this.#deps.onSlotFreed);
    }
  }
}
