import {
  ErrorEnvelopeSchema,
  errorEnvelope,
  PoolListSchema,
  validate,
  type DispatchRequest,
  type ErrorEnvelope,
  type PoolStatus,
} from '@llama-orch/contracts';
import { clientAgents, type ClientAgents, type ServerNameOf, type TlsMaterialSource } from '@llama-orch/tls';
import { createParser } from 'eventsource-parser';
import { request, type Dispatcher } from 'undici';
import { parseEngineFrame, type EngineFrame } from './engine-frame.ts';

export interface PoolManagerdClientOptions {
  /**
   * Our client certificate and the cluster CA (mutual TLS), re-read when they rotate: new requests use a new agent,
   * the old one closes once its requests (a stream in flight) end. null: plain HTTP on loopback.
   */
  readonly tls: TlsMaterialSource | null;
  /**
   * The DNS name a node's certificate is checked against where its URL holds an address (a node found through DNS),
   * by the node URL; undefined: the URL's own host. Asked at each new connection.
   */
  readonly serverName?: ServerNameOf;
  /** Budget of a status poll (headers and body). */
  readonly requestTimeoutMs: number;
  /** Longest silence allowed inside a dispatch stream (and before its answer). Default 300 s. */
  readonly streamTimeoutMs?: number;
  /** Budget of a drain or reload, which waits for engines. Default 15 min. */
  readonly controlTimeoutMs?: number;
}

export type PoolListOutcome =
  | { readonly kind: 'listed'; readonly pools: readonly PoolStatus[] }
  | { readonly kind: 'failed'; readonly reason: string };

export type ControlOutcome =
  | { readonly kind: 'answered'; readonly status: number; readonly body: string }
  | { readonly kind: 'unreachable'; readonly reason: string };

export type DispatchOutcome =
  | {
      readonly kind: 'streaming';
      /**
       * The engine's answer as typed frames (one per SSE event; a non-streamed request's JSON body is one frame);
       * throws when the stream breaks.
       */
      readonly frames: AsyncIterable<EngineFrame>;
      /** Stop the dispatch: pool-managerd aborts the engine request and frees the slot. */
      readonly abort: (reason?: Error) => void;
    }
  /** pool-managerd answered with an error before any frame (busy, unready, engine refused). */
  | { readonly kind: 'refused'; readonly status: number; readonly envelope: ErrorEnvelope }
  /** No answer at all (connection refused, TLS failure, timeout before headers). */
  | { readonly kind: 'unreachable'; readonly reason: string };

export interface DispatchOptions {
  /** Aborts the dispatch (a cancel or a client that went away). */
  readonly signal: AbortSignal;
  readonly correlationId: string;
  /** Extra headers, e.g. W3C `traceparent`. */
  readonly headers?: Readonly<Record<string, string>>;
}

const DEFAULT_STREAM_TIMEOUT_MS = 300_000;
const DEFAULT_CONTROL_TIMEOUT_MS = 15 * 60_000;

/**
 * The one HTTP client of pool-managerd's API (ARCHITECTURE §4), used by orchestratord: one connection pool with our
 * client certificate, one set of timeouts, typed outcomes instead of status-code probing.
 */
export class PoolManagerdClient {
  readonly #agents: ClientAgents;
  readonly #requestTimeoutMs: number;
  readonly #streamTimeoutMs: number;
  readonly #controlTimeoutMs: number;

  private constructor(agents: ClientAgents, options: PoolManagerdClientOptions) {
    this.#agents = agents;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#streamTimeoutMs = options.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS;
    this.#controlTimeoutMs = options.controlTimeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS;
  }

  static create(options: PoolManagerdClientOptions): Promise<PoolManagerdClient> {
    // A node that drops packets must not hold a poll past its timeout: connecting is bounded by it too.
    const agents = clientAgents(options.tls, {
      connectTimeout: options.requestTimeoutMs,
      ...(options.serverName === undefined ? {} : { serverName: options.serverName }),
    });
    return Promise.resolve(new PoolManagerdClient(agents, options));
  }

  /** GET /v2/pools of one node, validated. */
  async listPools(nodeUrl: string): Promise<PoolListOutcome> {
    try {
      const answer = await request(`${nodeUrl}/v2/pools`, {
        dispatcher: this.#agents.current,
        headersTimeout: this.#requestTimeoutMs,
        bodyTimeout: this.#requestTimeoutMs,
        signal: AbortSignal.timeout(this.#requestTimeoutMs),
      });
      const body: unknown = await answer.body.json().catch(() => null);
      if (answer.statusCode !== 200) return { kind: 'failed', reason: `HTTP ${answer.statusCode}` };
      const list = validate(PoolListSchema, body);
      if (!list.ok) return { kind: 'failed', reason: `invalid pool list: ${list.message}` };
      return { kind: 'listed', pools: list.value.pools };
    } catch (error) {
      return { kind: 'failed', reason: (error as Error).message };
    }
  }

  /**
   * POST /v2/pools/{id}/drain, /reload, /load or /kv/erase with the caller's JSON body; pool-managerd's answer is
   * passed on as is.
   */
  async control(
    nodeUrl: string,
    poolId: string,
    action: 'drain' | 'reload' | 'load' | 'kv/erase',
    body: string,
    correlationId: string,
  ): Promise<ControlOutcome> {
    try {
      const answer = await request(`${nodeUrl}/v2/pools/${encodeURIComponent(poolId)}/${action}`, {
        method: 'POST',
        dispatcher: this.#agents.current,
        headers: { 'content-type': 'application/json', 'x-correlation-id': correlationId },
        body,
        headersTimeout: this.#controlTimeoutMs,
        bodyTimeout: this.#controlTimeoutMs,
      });
      return { kind: 'answered', status: answer.statusCode, body: await answer.body.text() };
    } catch (error) {
      return { kind: 'unreachable', reason: (error as Error).message };
    }
  }

  /** POST /v2/pools/{id}/dispatch: the engine request relayed by pool-managerd, answered as typed frames. */
  async dispatch(
    nodeUrl: string,
    poolId: string,
    engine: DispatchRequest,
    options: DispatchOptions,
  ): Promise<DispatchOutcome> {
    const abort = new AbortController();
    const onAbort = (): void => abort.abort(options.signal.reason);
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
    const detach = (): void => options.signal.removeEventListener('abort', onAbort);
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(`${nodeUrl}/v2/pools/${encodeURIComponent(poolId)}/dispatch`, {
        method: 'POST',
        dispatcher: this.#agents.current,
        headers: {
          ...options.headers,
          'content-type': 'application/json',
          'x-correlation-id': options.correlationId,
        },
        body: JSON.stringify(engine),
        signal: abort.signal,
        headersTimeout: this.#streamTimeoutMs,
        bodyTimeout: this.#streamTimeoutMs,
      });
    } catch (error) {
      detach();
      return { kind: 'unreachable', reason: (error as Error).message };
    }
    if (answer.statusCode !== 200) {
      detach();
      const text = await answer.body.text().catch(() => '');
      return {
        kind: 'refused',
        status: answer.statusCode,
        envelope: refusal(answer.statusCode, text, engine.endpoint),
      };
    }
    const contentType = String(answer.headers['content-type'] ?? '');
    return {
      kind: 'streaming',
      frames: contentType.startsWith('text/event-stream')
        ? engineFrames(answer.body, engine.endpoint, detach)
        : engineBody(answer.body, engine.endpoint, detach),
      abort: (reason) => abort.abort(reason ?? new Error('dispatch aborted')),
    };
  }

  close(): Promise<void> {
    return this.#agents.close();
  }
}

/** Engine routes whose error answers are about the request: llama-server reads every input whole or not at all. */
const VECTOR_ENDPOINTS: ReadonlySet<DispatchRequest['endpoint']> = new Set(['/v1/embeddings', '/v1/rerank']);

/**
 * pool-managerd's own error envelope; otherwise the engine's answer relayed as is: a 4xx is the client's error
 * (INVALID_PARAMS, not retriable, no other pool would take it), anything else a failing engine — except llama-server's
 * own error answer to an embeddings or rerank request (an input longer than the engine's batch, which is the pool's
 * ctx), which every replica would give again: the client's error too, and the pool stays in placement.
 */
function refusal(status: number, text: string, endpoint: DispatchRequest['endpoint']): ErrorEnvelope {
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: described below
  }
  const envelope = validate(ErrorEnvelopeSchema, json);
  if (envelope.ok) return envelope.value;
  const message = engineMessage(json);
  const said = message ?? text.slice(0, 300);
  if (status >= 500 && message !== null && VECTOR_ENDPOINTS.has(endpoint))
    return errorEnvelope(
      'INVALID_PARAMS',
      `llama-server refused the input (HTTP ${status}): ${said} (each input must fit the pool's ctx)`,
      { engine: 'llamacpp' },
    );
  if (status >= 400 && status < 500)
    return errorEnvelope('INVALID_PARAMS', `llama-server refused the request (HTTP ${status}): ${said}`, {
      engine: 'llamacpp',
    });
  return errorEnvelope('WORKER_RESET', `llama-server answered HTTP ${status}: ${said}`, { engine: 'llamacpp' });
}

/** The message of llama-server's `{error: {message}}` answer, if that is what it is. */
function engineMessage(json: unknown): string | null {
  const error = (json as { error?: { message?: unknown } } | null)?.error;
  return typeof error?.message === 'string' ? error.message : null;
}

async function* engineFrames(
  body: AsyncIterable<unknown>,
  endpoint: DispatchRequest['endpoint'],
  done: () => void,
): AsyncGenerator<EngineFrame> {
  const pending: EngineFrame[] = [];
  const parser = createParser({
    onEvent: (event) => {
      const frame = parseEngineFrame(endpoint, event.data, event.event ?? null);
      if (frame !== null) pending.push(frame);
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) {
      parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      while (pending.length > 0) yield pending.shift() as EngineFrame;
    }
  } finally {
    done();
  }
}

/** A non-streamed answer: the whole JSON body as one frame (an unparsable body ends the answer with no frame). */
async function* engineBody(
  body: Dispatcher.ResponseData['body'],
  endpoint: DispatchRequest['endpoint'],
  done: () => void,
): AsyncGenerator<EngineFrame> {
  try {
    const frame = parseEngineFrame(endpoint, await body.text());
    if (frame !== null) yield frame;
  } finally {
    done();
  }
}
