import type { Dispatcher } from 'undici';
import { errorEnvelope, type DispatchRequest, type ErrorEnvelope } from '@llama-orch/contracts';
import type { Logger } from 'pino';
import { engineRequest } from '../engines/engine-agent.ts';
import type { PoolMetrics } from '../metrics.ts';
import type { PoolRegistry } from '../registry/pool-registry.ts';

/** A claimed slot; `release` is idempotent, so every exit path may call it. */
interface Lease {
  readonly poolId: string;
  readonly replicaId: string;
  readonly abort: AbortController;
  release(outcome: string): void;
}

export type DispatchOutcome =
  | {
      readonly kind: 'relayed';
      readonly status: number;
      readonly contentType: string;
      readonly body: ReadableStream<Uint8Array>;
    }
  | { readonly kind: 'refused'; readonly envelope: ErrorEnvelope };

/**
 * Relays engine requests with a slot claimed first: never more in flight than slots_total. The slot is
 * released when the engine answer ends, fails, or the client goes away (which also aborts the engine request).
 */
export class PoolDispatcher {
  readonly #registry: PoolRegistry;
  readonly #agent: Dispatcher;
  readonly #metrics: PoolMetrics;
  readonly #log: Logger;
  readonly #leases = new Set<Lease>();

  constructor(registry: PoolRegistry, agent: Dispatcher, metrics: PoolMetrics, log: Logger) {
    this.#registry = registry;
    this.#agent = agent;
    this.#metrics = metrics;
    this.#log = log;
  }

  #claim(poolId: string): Lease | ErrorEnvelope {
    const state = this.#registry.state(poolId);
    if (state !== 'ready') {
      this.#metrics.dispatches.inc({ pool_id: poolId, outcome: 'unready' });
      return errorEnvelope('POOL_UNREADY', `pool ${poolId} is ${state ?? 'unknown'}`, { retry_after_ms: 1000 });
    }
    const [choice] = this.#registry.dispatchable(poolId);
    if (choice === undefined) {
      this.#metrics.dispatches.inc({ pool_id: poolId, outcome: 'busy' });
      return errorEnvelope('REPLICA_EXHAUSTED', `every slot of pool ${poolId} is busy`, { retry_after_ms: 250 });
    }
    this.#registry.adjustInFlight(poolId, choice.replicaId, 1);
    const started = Date.now();
    let released = false;
    const lease: Lease = {
      poolId,
      replicaId: choice.replicaId,
      abort: new AbortController(),
      release: (outcome) => {
        if (released) return;
        released = true;
        this.#leases.delete(lease);
        this.#registry.adjustInFlight(poolId, choice.replicaId, -1);
        this.#metrics.dispatches.inc({ pool_id: poolId, outcome });
        this.#metrics.dispatchDuration.observe({ pool_id: poolId }, Date.now() - started);
      },
    };
    this.#leases.add(lease);
    return lease;
  }

  /** Leases of a pool now in flight. */
  inFlight(poolId: string): number {
    return [...this.#leases].filter((l) => l.poolId === poolId).length;
  }

  /** Abort every in-flight dispatch of a pool (a drain past its deadline). */
  abortAll(poolId: string): number {
    const leases = [...this.#leases].filter((l) => l.poolId === poolId);
    for (const lease of leases) lease.abort.abort(new Error('pool drained'));
    return leases.length;
  }

  /** `trace` is the caller's W3C traceparent, logged as trace_id so both daemons' logs join up. */
  async dispatch(
    poolId: string,
    request: DispatchRequest,
    clientSignal: AbortSignal,
    correlationId: string,
    trace?: string,
  ): Promise<DispatchOutcome> {
    const claimed = this.#claim(poolId);
    if (!('abort' in claimed)) return { kind: 'refused', envelope: claimed };
    const lease = claimed;
    const onClientGone = (): void => lease.abort.abort(new Error('client went away'));
    clientSignal.addEventListener('abort', onClientGone, { once: true });
    const replica = this.#registry.replicas(poolId).get(lease.replicaId);
    const url = `${replica?.handoff.url ?? ''}${request.endpoint}`;
    const traceId = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(trace ?? '')?.[1];
    const log = this.#log.child({
      pool_id: poolId,
      replica_id: lease.replicaId,
      correlation_id: correlationId,
      ...(traceId ? { trace_id: traceId } : {}),
    });
    let answer;
    try {
      answer = await engineRequest(this.#agent, url, {
        method: 'POST',
        body: JSON.stringify(request.body),
        signal: lease.abort.signal,
      });
    } catch (error) {
      clientSignal.removeEventListener('abort', onClientGone);
      const aborted = lease.abort.signal.aborted;
      lease.release(aborted ? 'client_abort' : 'engine_error');
      log.warn({ err: error }, 'engine request failed before its answer');
      return {
        kind: 'refused',
        envelope: errorEnvelope(
          'WORKER_RESET',
          `engine ${lease.replicaId} of pool ${poolId} failed: ${(error as Error).message}`,
        ),
      };
    }
    const source = answer.body;
    const started = Date.now();
    const finish = (outcome: string): void => {
      clientSignal.removeEventListener('abort', onClientGone);
      lease.release(outcome);
      log.info(
        { endpoint: request.endpoint, status: answer.statusCode, outcome, duration_ms: Date.now() - started },
        'dispatch finished',
      );
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        source.on('data', (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
        source.once('end', () => {
          finish(answer.statusCode < 400 ? 'ok' : 'engine_error');
          controller.close();
        });
        source.once('error', (error: Error) => {
          finish(lease.abort.signal.aborted ? (clientSignal.aborted ? 'client_abort' : 'drained') : 'engine_error');
          controller.error(error);
        });
      },
      cancel() {
        lease.abort.abort(new Error('client went away'));
        source.destroy();
        finish('client_abort');
      },
    });
    const contentType = String(answer.headers['content-type'] ?? 'application/octet-stream');
    return { kind: 'relayed', status: answer.statusCode, contentType, body };
  }
}
