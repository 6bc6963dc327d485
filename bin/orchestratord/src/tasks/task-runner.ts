import { createHash } from 'node:crypto';
import { context, propagation, trace, type Span } from '@opentelemetry/api';
import type { DispatchRequest, EndEvent } from '@llama-orch/contracts';
import type { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import type { Logger } from 'pino';
import { dispatchOutcome, type OrchMetrics } from '../metrics.ts';
import type { PoolView } from '../placement/place.ts';
import type { SlotLedger } from '../slots/slot-ledger.ts';
import type { SessionStore } from './sessions.ts';
import type { Task } from './task.ts';

/** A `metrics` event follows every this many tokens. */
const METRICS_EVERY_TOKENS = 32;
const tracer = trace.getTracer('orchestratord');
const DONE: AttemptOutcome = { kind: 'done' };
/** The engines' names for "cut at the token limit": OpenAI's, Anthropic's, the Responses API's. */
const LENGTH_REASONS = new Set(['length', 'max_tokens', 'max_output_tokens']);

export interface TaskRunnerDeps {
  readonly client: PoolManagerdClient;
  readonly ledger: SlotLedger;
  readonly sessions: SessionStore;
  readonly metrics: OrchMetrics;
  readonly log: Logger;
  readonly queueDepth: () => number;
  /** A started stream that carries no frame for this long is cut and its task ends with DECODE_TIMEOUT. */
  readonly decodeTimeoutMs: number;
}

/**
 * How one dispatch attempt ended: the task reached its terminal event, or it never started and goes back to the
 * queue — `busy` (the pool's slots were taken by someone else: not a failure) or `failed` (refused as unready,
 * unreachable, or broken before the first token: counted against the task's retries).
 */
export type AttemptOutcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'requeue'; readonly why: 'busy' | 'failed'; readonly poolId: string; readonly reason: string };

/** The span context of a task, for its child spans. */
export function taskContext(task: Task): ReturnType<typeof context.active> {
  return task.span === null ? context.active() : trace.setSpan(context.active(), task.span);
}

/**
 * Runs one placed task on one pool: dispatch through pool-managerd with a slot held, relay the engine's frames as
 * task events, and end the task exactly once — or hand it back for the queue when nothing was sent. A refusal that
 * is the client's fault (the engine's 4xx) ends the task with that error at once; no other pool would take it.
 */
/** One dispatch in flight: how to cut it, and when its stream last carried a frame. */
interface InFlight {
  readonly cut: AbortController;
  lastFrameAt: number;
}

export class TaskRunner {
  readonly #deps: TaskRunnerDeps;
  /** Dispatches in flight by the pool-managerd URL they go through. */
  readonly #inFlight = new Map<string, Set<InFlight>>();

  constructor(deps: TaskRunnerDeps) {
    this.#deps = deps;
  }

  /**
   * A pool-managerd failed two polls in a row (partitioned, hung, gone; PoolPoller's onLost): a stream through it that
   * has carried no frame for `silentForMs` is cut, so its task ends with one error (or, before its first token, goes
   * back to the queue) instead of waiting for the stream timeout. A stream still carrying frames is left alone: the
   * polls failed, the stream did not.
   */
  nodeLost(nodeUrl: string, reason: string, silentForMs: number): void {
    const now = Date.now();
    for (const attempt of this.#inFlight.get(nodeUrl) ?? []) {
      if (now - attempt.lastFrameAt < silentForMs || attempt.cut.signal.aborted) continue;
      attempt.cut.abort(new Error(`its pool-managerd (${nodeUrl}) stopped answering: ${reason}`));
    }
  }

  /** One attempt on one pool; the slot is released however it ends. */
  async attempt(task: Task, pool: PoolView, firstAttempt: boolean): Promise<AttemptOutcome> {
    const { metrics, log: rootLog } = this.#deps;
    const poolId = pool.status.pool_id;
    const priority = task.spec.priority;
    const log = rootLog.child({ task_id: task.id, pool_id: poolId });
    const lease = this.#deps.ledger.claim(poolId);
    task.poolId = poolId;
    const inFlight: InFlight = { cut: new AbortController(), lastFrameAt: Date.now() };
    const onNode = this.#inFlight.get(pool.nodeUrl) ?? new Set<InFlight>();
    this.#inFlight.set(pool.nodeUrl, onNode.add(inFlight));
    const started = Date.now();
    let firstTokenAt: number | null = null;
    let tokensIn = 0;
    let finishReason: string | null = null;
    let reportedOut: number | null = null;
    let result: EngineResult = {};
    let streamSpan: Span | null = null;
    let silence: NodeJS.Timeout | undefined;
    let decodeTimedOut = false;
    const dispatchSpan = tracer.startSpan(
      'dispatch',
      { attributes: { 'pool.id': poolId, 'dispatch.first_attempt': firstAttempt } },
      taskContext(task),
    );
    try {
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), dispatchSpan), headers);
      const answer = await this.#deps.client.dispatch(pool.nodeUrl, poolId, withCacheKey(task), {
        signal: AbortSignal.any([task.abort.signal, inFlight.cut.signal]),
        correlationId: task.id,
        headers,
      });
      dispatchSpan.setAttribute('dispatch.outcome', answer.kind);
      dispatchSpan.end();
      metrics.dispatched.inc({ pool_id: poolId, outcome: dispatchOutcome(answer) });
      metrics.dispatchLatency.observe({ pool_id: poolId }, Date.now() - started);
      if (task.ended) return DONE;
      if (answer.kind === 'unreachable') {
        log.warn({ reason: answer.reason }, 'dispatch refused before the first token');
        return { kind: 'requeue', why: 'failed', poolId, reason: answer.reason };
      }
      if (answer.kind === 'refused') {
        const { envelope } = answer;
        log.warn(
          { status: answer.status, code: envelope.code, reason: envelope.message },
          'dispatch refused before the first token',
        );
        if (envelope.retriable === false) {
          if (envelope.engine !== undefined && answer.status >= 400 && answer.status < 500)
            task.engineStatus = answer.status;
          task.fail(envelope.code, envelope.message, envelope.engine === undefined ? {} : { engine: envelope.engine });
          return DONE;
        }
        return {
          kind: 'requeue',
          why: envelope.code === 'REPLICA_EXHAUSTED' ? 'busy' : 'failed',
          poolId,
          reason: envelope.message,
        };
      }
      task.placedOn = { node: pool.nodeUrl, gpus: pool.status.gpus?.length ?? 0 };
      // `started` names the pool that accepted the task, so it is sent only once a dispatch is answered (and once:
      // a stream that broke before its first token may be requeued and start again elsewhere).
      if (task.events.every((e) => e.event !== 'started'))
        task.emit({
          event: 'started',
          data: {
            queue_position: 0,
            predicted_start_ms: 0,
            pool_id: poolId,
            ...(pool.status.engine_version ? { engine_version: pool.status.engine_version } : {}),
          },
        });
      // What made its tokens, for the request log (ORCH-4037: a strict task is reproducible from these and its seed).
      task.build = { engine_version: pool.status.engine_version, model_digest: pool.status.model_digest ?? null };
      metrics.started.inc({ pool_id: poolId, priority });
      streamSpan = tracer.startSpan('stream', { attributes: { 'pool.id': poolId } }, taskContext(task));
      // A hung engine (stopped, deadlocked) keeps its connection open and sends nothing: cut it after the timeout.
      const { decodeTimeoutMs } = this.#deps;
      silence = setTimeout(() => {
        decodeTimedOut = true;
        inFlight.cut.abort(
          new Error(`pool ${poolId} sent nothing for ${decodeTimeoutMs} ms (ORCHD_DECODE_TIMEOUT_MS)`),
        );
      }, decodeTimeoutMs);
      for await (const frame of answer.frames) {
        if (task.ended) break;
        silence.refresh();
        inFlight.lastFrameAt = Date.now();
        if (frame.tokensIn !== null) tokensIn = frame.tokensIn;
        if (frame.tokensOut !== null) reportedOut = frame.tokensOut;
        if (frame.finishReason !== null) finishReason = frame.finishReason;
        if (frame.error !== null && task.relayed === 0 && firstTokenAt === null) {
          // The engine refused inside its answer, before anything reached the client: the client's error (4xx)
          // ends the task at once; anything else is a broken attempt, retried elsewhere.
          const { status, message } = frame.error;
          if (status !== null && status >= 400 && status < 500) {
            task.engineStatus = status;
            task.fail('INVALID_PARAMS', `llama-server refused the request (HTTP ${status}): ${message}`, {
              engine: 'llamacpp',
            });
            return DONE;
          }
          throw new Error(`llama-server answered with an error: ${message}`);
        }
        if (frame.output && firstTokenAt === null) {
          firstTokenAt = Date.now();
          metrics.firstToken.observe({ pool_id: poolId, priority }, firstTokenAt - task.admittedAt);
        }
        if (task.kind !== 'completion') {
          // An embedding or rerank answer is one body; a native task carries what it holds in its end event.
          if (task.spec.relay !== true && frame.json !== null) result = resultOf(frame.json);
        }
        if (task.spec.relay === true) {
          task.relay(frame);
          if (frame.error !== null) {
            task.fail('WORKER_RESET', `llama-server failed after the answer began: ${frame.error.message}`);
            return DONE;
          }
          continue;
        }
        if (frame.text === null) continue;
        const index = task.tokensOut();
        task.emit({ event: 'token', data: { t: frame.text, i: index } });
        const out = index + 1;
        if (out % METRICS_EVERY_TOKENS === 0) {
          const seconds = (Date.now() - (firstTokenAt ?? Date.now())) / 1000;
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
      if (task.ended) return DONE;
      const decodeMs = firstTokenAt === null ? 0 : Date.now() - firstTokenAt;
      if (task.spec.relay === true && task.relayed > 0 && finishReason === null) {
        // The engine's answer stopped without saying how it ended: what the client got is cut short.
        task.fail('WORKER_RESET', `the answer from pool ${poolId} ended without a finish reason`);
        return DONE;
      }
      const tokensOut = reportedOut ?? task.tokensOut();
      metrics.tokensOut.inc({ pool_id: poolId }, tokensOut);
      metrics.tokensIn.inc({ pool_id: poolId }, tokensIn);
      metrics.decode.observe({ pool_id: poolId, priority }, decodeMs);
      task.emit({
        event: 'end',
        data: {
          tokens_out: tokensOut,
          decode_ms: decodeMs,
          tokens_in: tokensIn,
          finish_reason: LENGTH_REASONS.has(finishReason ?? '') ? 'length' : 'stop',
          ...result,
        },
      });
      return DONE;
    } catch (error) {
      if (task.ended) return DONE;
      if (firstTokenAt === null && task.relayed === 0 && !task.abort.signal.aborted) {
        log.warn({ err: error }, 'dispatch failed before the first token; back to the queue');
        return { kind: 'requeue', why: 'failed', poolId, reason: (error as Error).message };
      }
      const cause = inFlight.cut.signal.aborted ? (inFlight.cut.signal.reason as Error) : (error as Error);
      if (decodeTimedOut) {
        const sent = task.spec.relay === true ? `${task.relayed} chunks` : `${task.tokensOut()} tokens`;
        task.fail('DECODE_TIMEOUT', `${cause.message}, after ${sent}`);
        return DONE;
      }
      task.fail(
        'WORKER_RESET',
        `the stream from pool ${poolId} broke after ${task.tokensOut()} tokens: ${cause.message}`,
      );
      return DONE;
    } finally {
      clearTimeout(silence);
      onNode.delete(inFlight);
      if (onNode.size === 0 && this.#inFlight.get(pool.nodeUrl) === onNode) this.#inFlight.delete(pool.nodeUrl);
      dispatchSpan.end();
      streamSpan?.setAttribute('tokens_out', task.tokensOut());
      streamSpan?.end();
      lease.release();
      if (task.spec.sessionId !== undefined && task.ended)
        this.#deps.sessions.recordTurn(task.spec.sessionId, poolId, task.tokensOut() > 0);
    }
  }
}

/** What an embedding or rerank answer holds, in the end event's terms. */
type EngineResult = Pick<EndEvent, 'embeddings' | 'results'>;

/** The vectors of an OpenAI-shaped embeddings body, or the ranked results of a rerank body (best first). */
function resultOf(json: unknown): EngineResult {
  const body = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if (Array.isArray(body['data'])) {
    const rows = (body['data'] as { index?: unknown; embedding?: unknown }[])
      .filter((row) => Array.isArray(row.embedding))
      .sort((a, b) => Number(a.index ?? 0) - Number(b.index ?? 0));
    return { embeddings: rows.map((row) => row.embedding as number[]) };
  }
  if (Array.isArray(body['results'])) {
    const results = (body['results'] as { index?: unknown; relevance_score?: unknown }[])
      .map((r) => ({ index: Number(r.index), relevance_score: Number(r.relevance_score) }))
      .sort((a, b) => b.relevance_score - a.relevance_score);
    return { results };
  }
  return {};
}

/**
 * The engine request with its session's cache key (issue 19): pool-managerd sends the session's turns to the engine
 * slot that holds its conversation. A hash, so the session id and its owner never reach a node; none for
 * `kv_hint: cold`.
 */
export function withCacheKey(task: Task): DispatchRequest {
  const session = task.spec.sessionId;
  if (session === undefined || task.spec.hints?.kv_hint === 'cold') return task.engine;
  return { ...task.engine, cache_key: sessionCacheKey(session) };
}

/** The opaque key of a session (its owner-scoped store key) on the nodes. */
export const sessionCacheKey = (session: string): string =>
  createHash('sha256').update(session).digest('base64url').slice(0, 32);
