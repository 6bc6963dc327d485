import type { Dispatcher } from 'undici';
import type { RawStream } from '@llama-orch/http';
import { errorEnvelope, kindOfEndpoint, type DispatchRequest, type ErrorEnvelope } from '@llama-orch/contracts';
import type { Logger } from 'pino';
import { engineRequest } from '../engines/engine-agent.ts';
import type { PoolMetrics } from '../metrics.ts';
import type { PoolRegistry } from '../registry/pool-registry.ts';
import type { SlotGuard, SlotLedger, SlotPreference } from '../slots/slot-ledger.ts';
import { engineSlots, KvRouter } from './kv-router.ts';

export type DispatchOutcome =
  | {
      readonly kind: 'relayed';
      readonly status: number;
      readonly contentType: string;
      /** Send the engine's answer to the client; the slot is released when it ends, breaks or the client leaves. */
      readonly relayTo: (client: RawStream) => void;
    }
  | { readonly kind: 'refused'; readonly envelope: ErrorEnvelope };

/**
 * After a dispatch was cut (client gone, drain), llama-server still holds its slot until it notices: at its next
 * write, or when a stopped engine runs again. For this long after a cut, a dispatch to that replica first asks the
 * engine (`/slots`) and goes only where one is free: the engine never holds more requests than its slots (issue 16).
 */
const CUT_SETTLE_MS = 5_000;
/**
 * How long a dispatch waits for the engine to let go of a cut request before it is refused: a running engine notices
 * the closed connection at its next token, within milliseconds, and the dispatch should not go elsewhere for that
 * (a session's warm slot, a pinned pool); a stopped one never answers, and the refusal sends the task back to the
 * queue.
 */
const CUT_WAIT_MS = 1_000;
const CUT_POLL_MS = 25;
type Claim =
  | { readonly kind: 'claimed'; readonly guard: SlotGuard }
  | { readonly kind: 'refused'; readonly envelope: ErrorEnvelope };

/**
 * Relays engine requests with a slot claimed from the ledger first: never more in flight than slots_total. The
 * slot is released when the engine answer ends, fails, or the client goes away (which also aborts the engine
 * request).
 */
export class PoolDispatcher {
  readonly #registry: PoolRegistry;
  readonly #slots: SlotLedger;
  readonly #agent: Dispatcher;
  readonly #metrics: PoolMetrics;
  readonly #log: Logger;

  readonly #onEngineFailure: (poolId: string, replicaId: string) => void;
  /** Which engine slot holds which prompt, and where a dispatch goes for its prompt's cache (issue 19). */
  readonly #kv: KvRouter;
  /** `pool/replica` → when a dispatch to it was last cut before its end. */
  readonly #cutAt = new Map<string, number>();
  /**
   * `pool/replica` → cut dispatches whose slot is still held because the engine may still run them. While there are
   * any, no new request goes to that engine: it would be one the engine does not count yet, and the count is how a
   * cut one is known to be gone.
   */
  readonly #zombies = new Map<string, number>();

  /** `onEngineFailure`: an engine could not be reached for a dispatch; its health is checked at once. */
  constructor(
    registry: PoolRegistry,
    slots: SlotLedger,
    agent: Dispatcher,
    metrics: PoolMetrics,
    log: Logger,
    onEngineFailure: (poolId: string, replicaId: string) => void = () => undefined,
    options: { readonly kvAffinity?: boolean } = {},
  ) {
    this.#kv = new KvRouter(registry, slots, agent, metrics, options.kvAffinity ?? true);
    this.#registry = registry;
    this.#slots = slots;
    this.#agent = agent;
    this.#metrics = metrics;
    this.#log = log;
    this.#onEngineFailure = onEngineFailure;
  }

  /** `count`: count a refusal in the metrics (a retry of the same dispatch does not count again). */
  #claim(poolId: string, request: DispatchRequest, count = true, prefer?: SlotPreference): Claim {
    const { endpoint } = request;
    // An engine started for another kind would refuse the route or answer it badly (a completion from a reranker).
    const kind = this.#registry.kind(poolId) ?? 'completion';
    const needed = kindOfEndpoint(endpoint);
    if (kind !== needed) {
      this.#metrics.dispatches.inc({ pool_id: poolId, outcome: 'wrong_kind' });
      const envelope = errorEnvelope(
        'INVALID_PARAMS',
        `endpoint: pool ${poolId} is a ${kind} pool; ${endpoint} needs a pool of kind ${needed}`,
      );
      return { kind: 'refused', envelope };
    }
    const state = this.#registry.state(poolId);
    if (state !== 'ready') {
      this.#metrics.dispatches.inc({ pool_id: poolId, outcome: 'unready' });
      const envelope = errorEnvelope('POOL_UNREADY', `pool ${poolId} is ${state ?? 'unknown'}`, {
        retry_after_ms: 1000,
      });
      return { kind: 'refused', envelope };
    }
    const guard = this.#slots.claim(poolId, this.#registry.candidates(poolId), parallelTasks(request), prefer);
    if (guard === null) {
      if (count) this.#metrics.dispatches.inc({ pool_id: poolId, outcome: 'busy' });
      const envelope = errorEnvelope('REPLICA_EXHAUSTED', `every slot of pool ${poolId} is busy`, {
        retry_after_ms: 250,
      });
      return { kind: 'refused', envelope };
    }
    return { kind: 'claimed', guard };
  }

  /**
   * Why the engine has no slot for one more request (it still runs one that was cut), or null when it has. An engine
   * that does not answer in time counts as busy: it is stopped, or too loaded to say.
   */
  async #engineBusy(key: string, url: string, slotsTotal: number): Promise<string | null> {
    const zombies = this.#zombies.get(key) ?? 0;
    if (zombies > 0) return `its engine may still run ${zombies} cut request(s)`;
    const processing = await this.#engineProcessing(url);
    if (processing === null) return 'its engine did not say which slots are free';
    if (processing + 1 > slotsTotal) return `its engine still runs ${processing} of ${slotsTotal} (one of them cut)`;
    if (this.#cutAt.get(key) === Number.POSITIVE_INFINITY) this.#cutAt.delete(key); // it has room again
    return null;
  }

  #poolHasZombies(poolId: string): boolean {
    for (const key of this.#zombies.keys()) if (key.startsWith(`${poolId}/`)) return true;
    return false;
  }

  /**
   * Until the engine runs fewer requests than the ledger counts on its replica (the cut one among them): then that
   * one is gone. At most CUT_SETTLE_MS: an engine that does not answer (stopped, dead) keeps the slot that long.
   */
  async #untilEngineLetGo(poolId: string, replicaId: string, url: string): Promise<boolean> {
    const deadline = Date.now() + CUT_SETTLE_MS;
    while (Date.now() + CUT_POLL_MS < deadline) {
      const processing = await this.#engineProcessing(url);
      if (processing !== null && processing < this.#slots.inFlight(poolId, replicaId)) return true;
      await new Promise((resolve) => setTimeout(resolve, CUT_POLL_MS));
    }
    return false;
  }

  /** How many requests the engine says it runs (its /slots), or null when it does not say in time. */
  async #engineProcessing(url: string): Promise<number | null> {
    const slots = await engineSlots(this.#agent, url);
    return slots === null ? null : slots.filter((s) => s.is_processing === true).length;
  }

  /** #engineBusy until the engine has a slot, for at most CUT_WAIT_MS (or until the client leaves); the last reason. */
  async #untilEngineFree(key: string, url: string, slotsTotal: number, signal: AbortSignal): Promise<string | null> {
    const deadline = Date.now() + CUT_WAIT_MS;
    for (;;) {
      const busy = await this.#engineBusy(key, url, slotsTotal);
      if (busy === null || signal.aborted || Date.now() + CUT_POLL_MS > deadline) return busy;
      await new Promise((resolve) => setTimeout(resolve, CUT_POLL_MS));
    }
  }

  /** Free the KV cache a deleted session's conversation left in an engine slot (KvRouter.erase). */
  erase(poolId: string, cacheKey: string): Promise<number | null> {
    return this.#kv.erase(poolId, cacheKey);
  }

  /** `trace` is the caller's W3C traceparent, logged as trace_id so both daemons' logs join up. */
  async dispatch(
    poolId: string,
    request: DispatchRequest,
    clientSignal: AbortSignal,
    correlationId: string,
    trace?: string,
  ): Promise<DispatchOutcome> {
    const route = this.#kv.route(poolId, request);
    const prefer = KvRouter.prefer(route);
    let claim = this.#claim(poolId, request, true, prefer);
    // Every slot is held, some by cut requests the engine is about to drop (at its next token): wait for them a
    // moment rather than send the task to another pool (its session's warm cache, a pin) for a millisecond's lag.
    const waitUntil = Date.now() + CUT_WAIT_MS;
    while (
      claim.kind === 'refused' &&
      claim.envelope.code === 'REPLICA_EXHAUSTED' &&
      this.#poolHasZombies(poolId) &&
      !clientSignal.aborted &&
      Date.now() + CUT_POLL_MS < waitUntil
    ) {
      await new Promise((resolve) => setTimeout(resolve, CUT_POLL_MS));
      claim = this.#claim(poolId, request, false, prefer);
    }
    if (claim.kind === 'refused') return claim;
    const guard = await this.#kv.settle(poolId, route, claim.guard, clientSignal);
    const claimedAt = Date.now();
    const replica = this.#registry.replicas(poolId).get(guard.replicaId);
    const key = `${poolId}/${guard.replicaId}`;
    /** Give the slot back and count the outcome, once, whichever exit path comes first. */
    const release = (outcome: string): void => {
      if (!guard.release()) return;
      this.#metrics.dispatches.inc({ pool_id: poolId, outcome });
      this.#metrics.dispatchDuration.observe({ pool_id: poolId }, Date.now() - claimedAt);
    };
    /**
     * A cut dispatch (its client left, a drain aborted it, its answer broke): the engine may still run it until it
     * notices, so its slot stays held until the engine says it runs fewer requests than we count, or CUT_SETTLE_MS:
     * the ledger never hands that slot to a new request the engine would have to queue (invariant 2).
     */
    let cut = false;
    const releaseAfterCut = (outcome: string): void => {
      if (cut || guard.released) return;
      cut = true;
      this.#cutAt.set(key, Date.now());
      this.#zombies.set(key, (this.#zombies.get(key) ?? 0) + 1);
      void this.#untilEngineLetGo(poolId, guard.replicaId, replica?.handoff.url ?? '').then((confirmed) => {
        const left = (this.#zombies.get(key) ?? 1) - 1;
        if (left > 0) this.#zombies.set(key, left);
        else this.#zombies.delete(key);
        // An engine that never said (stopped, dead): every dispatch to it asks it first until it has room again.
        if (!confirmed) this.#cutAt.set(key, Number.POSITIVE_INFINITY);
        release(outcome);
      });
    };
    // Registered before anything is awaited: an abort listener added later never hears an abort that came before.
    const onClientGone = (): void => guard.abort(new Error('client went away'));
    if (clientSignal.aborted) onClientGone();
    else clientSignal.addEventListener('abort', onClientGone, { once: true });
    if ((this.#zombies.get(key) ?? 0) > 0 || Date.now() - (this.#cutAt.get(key) ?? -Infinity) < CUT_SETTLE_MS) {
      const busy = await this.#untilEngineFree(
        key,
        replica?.handoff.url ?? '',
        replica?.handoff.slots_total ?? 0,
        guard.signal,
      );
      if (busy !== null) {
        clientSignal.removeEventListener('abort', onClientGone);
        release('busy');
        return {
          kind: 'refused',
          envelope: errorEnvelope('REPLICA_EXHAUSTED', `every slot of pool ${poolId} is busy: ${busy}`, {
            retry_after_ms: 100,
          }),
        };
      }
    }
    const url = `${replica?.handoff.url ?? ''}${request.endpoint}`;
    const body = this.#kv.body(request, guard);
    const traceId = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(trace ?? '')?.[1];
    const log = this.#log.child({
      pool_id: poolId,
      replica_id: guard.replicaId,
      correlation_id: correlationId,
      ...(traceId ? { trace_id: traceId } : {}),
    });
    let answer;
    try {
      answer = await engineRequest(this.#agent, url, {
        method: 'POST',
        body: JSON.stringify(body),
        signal: guard.signal,
      });
    } catch (error) {
      clientSignal.removeEventListener('abort', onClientGone);
      // Cut before the engine answered: it may have begun the request all the same.
      if (guard.signal.aborted) releaseAfterCut('client_abort');
      else {
        this.#cutAt.set(key, Date.now());
        release('engine_error');
      }
      log.warn({ err: error }, 'engine request failed before its answer');
      if (!guard.signal.aborted) {
        // A dead engine must leave dispatch now, not at the next health tick: until the check answers, the
        // replica takes no more work (and the pool's status says so to every orchestratord).
        this.#registry.observeHealth(poolId, guard.replicaId, {
          healthy: false,
          error: `engine unreachable: ${(error as Error).message}`,
        });
        this.#onEngineFailure(poolId, guard.replicaId);
      }
      return {
        kind: 'refused',
        envelope: errorEnvelope(
          'WORKER_RESET',
          `engine ${guard.replicaId} of pool ${poolId} failed: ${(error as Error).message}`,
        ),
      };
    }
    const source = answer.body;
    const started = Date.now();
    /** The engine answer's last bytes (KvRouter.tail), read once it ended. */
    let tail = (): Buffer => Buffer.alloc(0);
    /** `cut`: the answer did not reach its end, so the engine may still be running it. */
    const finish = (outcome: string, cutShort: boolean): void => {
      clientSignal.removeEventListener('abort', onClientGone);
      if (guard.released || cut) return;
      if (cutShort) releaseAfterCut(outcome);
      else release(outcome);
      if (outcome === 'ok' && guard.slot !== null && replica !== undefined) {
        const at = { replicaId: guard.replicaId, pid: replica.handoff.pid, slot: guard.slot, url: replica.handoff.url };
        this.#kv.ended(poolId, route, at, Date.now() - claimedAt, tail());
      }
      log.info(
        {
          endpoint: request.endpoint,
          status: answer.statusCode,
          outcome,
          duration_ms: Date.now() - started,
          ...(guard.slot === null ? {} : { slot: guard.slot }),
          ...(route === null ? {} : { kv: route.decision, kv_reason: route.reason }),
        },
        'dispatch finished',
      );
    };
    const relayTo = (client: RawStream): void => {
      if (client.closed || clientSignal.aborted) {
        // The client left between the engine's answer and now: nothing will read or close this stream for us.
        guard.abort(new Error('client went away'));
        source.on('error', () => undefined);
        source.destroy();
        finish('client_abort', true);
        return;
      }
      source.once('end', () => finish(answer.statusCode < 400 ? 'ok' : 'engine_error', false));
      source.once('error', (error: Error) => {
        finish(guard.signal.aborted ? (clientSignal.aborted ? 'client_abort' : 'drained') : 'engine_error', true);
        // A broken engine answer reaches the client broken, never as a whole one.
        client.destroy(error);
      });
      client.onClose(() => {
        if (source.readableEnded) return;
        guard.abort(new Error('client went away'));
        source.destroy();
        finish('client_abort', true);
      });
      // Only now, with the pipe: a 'data' listener starts the flow.
      tail = KvRouter.tail(route, source);
      // The engine's bytes go to the socket as they come: no copy, no adapter.
      client.pipe(source);
    };
    const contentType = String(answer.headers['content-type'] ?? 'application/octet-stream');
    return { kind: 'relayed', status: answer.statusCode, contentType, relayTo };
  }
}

/**
 * How many tasks the engine makes of one request: llama-server runs each input of an embeddings request and each
 * document of a rerank request as a task of its own, in as many slots as are free. The dispatch holds that many slots
 * (at most the replica's), so that no other request waits inside the engine, out of sight (invariant 2).
 */
export function parallelTasks(request: DispatchRequest): number {
  const body = request.body;
  if (request.endpoint === '/v1/embeddings') {
    const input = body['input'];
    // A string, or one list of token ids, is one input; a list of strings or of token lists is one per entry.
    if (!Array.isArray(input) || input.length === 0 || typeof input[0] === 'number') return 1;
    return input.length;
  }
  if (request.endpoint === '/v1/rerank') {
    const documents = body['documents'];
    return Array.isArray(documents) ? Math.max(1, documents.length) : 1;
  }
  return 1;
}
