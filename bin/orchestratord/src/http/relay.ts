import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import {
  errorEnvelope,
  type DispatchRequest,
  type ErrorEnvelope,
  type LoadingEvent,
  type TaskEvent,
} from '@llama-orch/contracts';
import type { EngineFrame } from '@llama-orch/pool-managerd-client';
import { rawStream, sendError } from '@llama-orch/http';
import type { Task } from '../tasks/task.ts';
import { admitTask } from './admit.ts';
import { idempotencyOf, journalDown, KeptAnswer, replayed, stillRunning } from './idempotency.ts';
import type { AppDeps, AppEnv } from './deps.ts';

/** How one API family's answers are relayed: which engine route, and how its errors look inside a stream. */
export interface RelayApi {
  readonly endpoint: DispatchRequest['endpoint'];
  /** The task id's prefix; for chat and text completions also the `id` the client sees in place of the engine's. */
  readonly idPrefix: string;
  readonly rewriteId: boolean;
  /** The SSE event that reports a failure after the answer began, in the API's own shape. */
  readonly streamError: (envelope: ErrorEnvelope) => { readonly event?: string; readonly data: unknown };
}

export interface RelayRequest {
  readonly body: Record<string, unknown>;
  /** The model the client asked for: placement uses it and every answer names it. */
  readonly model: string;
  readonly stream: boolean;
}

type Item =
  { readonly kind: 'frame'; readonly frame: EngineFrame } | { readonly kind: 'event'; readonly event: TaskEvent };

/**
 * What the orchestrator owns in an engine's answer, rewritten in its text without parsing it again: the model
 * name (the engine names its file; the client named a model) and, for completions, the id (the task's).
 */
class Rewriter {
  #modelNeedle: string | null = null;
  #idNeedle: string | null = null;
  readonly #model: string;
  readonly #id: string | null;

  constructor(model: string, id: string | null) {
    this.#model = `"model":${JSON.stringify(model)}`;
    this.#id = id === null ? null : `"id":${JSON.stringify(id)}`;
  }

  /** A JSON body, rewritten. */
  body(frame: EngineFrame): string {
    const json = frame.json as Record<string, Record<string, unknown> | undefined> | null;
    if (this.#modelNeedle === null && json !== null) {
      const named = json['model'] ?? json['message']?.['model'] ?? json['response']?.['model'];
      if (typeof named === 'string') this.#modelNeedle = `"model":${JSON.stringify(named)}`;
    }
    if (this.#id !== null && this.#idNeedle === null && typeof json?.['id'] === 'string')
      this.#idNeedle = `"id":${JSON.stringify(json['id'])}`;
    let data = frame.data;
    if (this.#modelNeedle !== null && this.#modelNeedle !== this.#model)
      data = data.replaceAll(this.#modelNeedle, this.#model);
    if (this.#idNeedle !== null && this.#id !== null) data = data.replace(this.#idNeedle, this.#id);
    return data;
  }

  /** The frame as the SSE event the client gets. */
  event(frame: EngineFrame): string {
    const data = this.body(frame);
    return frame.event === null ? `data: ${data}\n\n` : `event: ${frame.event}\ndata: ${data}\n\n`;
  }
}

/** The HTTP answer of a task that failed before anything was relayed: the engine's own status for its 4xx. */
function failure(c: Context<AppEnv>, task: Task, event: TaskEvent & { event: 'error' }): Response {
  const envelope = errorEnvelope(
    event.data.code,
    event.data.message,
    event.data.retry_after_ms !== undefined ? { retry_after_ms: event.data.retry_after_ms } : {},
  );
  return sendError(c, envelope, task.engineStatus ?? undefined);
}

/** An SSE comment saying where the load of the task's pool stands: `: loading demo downloading 12/40 MB`. */
function loadingComment(load: LoadingEvent): string {
  const bytes =
    load.bytes_done === null
      ? ''
      : ` ${(load.bytes_done / 1e6).toFixed(0)}/${load.bytes_total === null ? '?' : (load.bytes_total / 1e6).toFixed(0)} MB`;
  const waiting = load.waiting_for === null ? '' : ` (${load.waiting_for.replace(/[\r\n]/g, ' ')})`;
  return `: loading ${load.pool_id} ${load.phase}${bytes}${waiting}\n\n`;
}

/**
 * Submit an engine request as a relayed task and answer with the engine's own answer: its JSON body, or its SSE
 * events as they come (with keep-alive comments), rewriting only what the orchestrator owns. A failure before the
 * first frame is an HTTP error; after it, one error event in the API's shape ends the stream.
 */
export async function relayTask(
  c: Context<AppEnv>,
  deps: AppDeps,
  api: RelayApi,
  request: RelayRequest,
): Promise<Response> {
  const idempotent = idempotencyOf(c, api.idPrefix, api.endpoint, request.body);
  if (!idempotent.ok) return sendError(c, idempotent.envelope);
  const key = idempotent.value;
  if (key !== null) {
    const answered = await replayed(c, deps, key).catch((error: unknown) => journalDown(c, error));
    if (answered !== null) return answered;
  }
  const id = key?.id ?? `${api.idPrefix}-${randomUUID()}`;
  const kept = key === null ? null : new KeptAnswer();
  // A streamed answer holds one of the client's open streams from admission to its end.
  const held = request.stream ? deps.streams.open(c.get('identity')) : { ok: true as const, release: () => undefined };
  if (!held.ok) return sendError(c, held.envelope);
  const admission = await admitTask(
    c,
    deps,
    {
      id,
      ...(key === null ? {} : { requestHash: key.hash }),
      model: request.model,
      priority: 'interactive',
      sessionId: undefined,
      deadlineMs: undefined,
      placement: undefined,
      engine: { endpoint: api.endpoint, body: request.body },
      relay: true,
    },
    { claim: key !== null },
  );
  if (admission.kind !== 'admitted') {
    held.release();
    // The key's first request got there first (here, or on another replica): answer as a retry of it.
    if (key !== null && (admission.kind === 'taken' || admission.envelope.code === 'CONFLICT'))
      return (
        (await replayed(c, deps, key).catch((error: unknown) => journalDown(c, error))) ?? sendError(c, stillRunning())
      );
    return sendError(c, admission.kind === 'taken' ? stillRunning() : admission.envelope);
  }
  const task = admission.task;
  const rewriter = new Rewriter(request.model, api.rewriteId ? id : null);

  const items: Item[] = [];
  let wake: (() => void) | null = null;
  const push = (item: Item): void => {
    items.push(item);
    wake?.();
  };
  task.relayTo((frame) => push({ kind: 'frame', frame }));
  const unsubscribe = task.subscribe((event) => {
    if (event.event === 'end' || event.event === 'error' || event.event === 'loading') push({ kind: 'event', event });
  });
  let gone = false;
  const leave = (): void => {
    if (gone) return;
    gone = true;
    unsubscribe();
    if (!task.ended) deps.scheduler.cancel(id, 'disconnect');
    wake?.();
  };
  const next = async (): Promise<Item | null> => {
    for (;;) {
      const item = items.shift();
      if (item !== undefined) return item;
      if (gone) return null;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  };

  // Nothing is committed until the first frame (or the end): an error before it is a proper HTTP error.
  const signal = c.req.raw.signal;
  signal.addEventListener('abort', leave, { once: true });
  let first = await next();
  // A model that loads first: a stream is committed now and says so in comments (the client sees the connection
  // live, ORCH-4050); a plain answer just waits.
  while (first?.kind === 'event' && first.event.event === 'loading' && !request.stream) first = await next();
  if (first === null) {
    held.release();
    return new Response(null, { status: 499 });
  }
  if (first.kind === 'event' && first.event.event !== 'loading') {
    held.release();
    signal.removeEventListener('abort', leave);
    unsubscribe();
    if (first.event.event === 'error') return failure(c, task, first.event);
    return sendError(c, errorEnvelope('WORKER_RESET', `the engine's answer for task ${id} was empty`));
  }

  if (!request.stream && first.kind === 'frame') {
    signal.removeEventListener('abort', leave);
    // A non-streamed answer is one frame, then the end.
    let last = await next();
    while (last?.kind === 'event' && last.event.event === 'loading') last = await next();
    unsubscribe();
    if (last?.kind === 'event' && last.event.event === 'error') return failure(c, task, last.event);
    const answer = rewriter.body(first.frame);
    kept?.add(answer);
    kept?.keep(deps, task, 'application/json');
    return c.body(answer, 200, { 'content-type': 'application/json' });
  }

  const stream = rawStream(c, 200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  stream.onClose(leave);
  void (async () => {
    const keepAlive = setInterval(() => void stream.write(': keep-alive\n\n'), deps.sseKeepAliveMs);
    let engineFailed = false;
    /** The client was sent every frame and the end: only such an answer is kept for its Idempotency-Key. */
    let whole = false;
    try {
      for (let item: Item | null = first; item !== null && !stream.closed; item = await next()) {
        if (item.kind === 'frame') {
          // Every frame already here goes out in one write: under load, one syscall for many tokens.
          let frame: EngineFrame = item.frame;
          let text = '';
          for (;;) {
            engineFailed ||= frame.error !== null;
            text += rewriter.event(frame);
            const queued = items[0];
            if (queued?.kind !== 'frame') break;
            items.shift();
            frame = queued.frame;
          }
          kept?.add(text);
          await stream.write(text);
          continue;
        }
        if (item.event.event === 'loading') {
          await stream.write(loadingComment(item.event.data));
          continue;
        }
        if (item.event.event === 'end' && !stream.closed) whole = true;
        if (item.event.event === 'error' && !engineFailed) {
          const { event, data } = api.streamError(errorEnvelope(item.event.data.code, item.event.data.message));
          await stream.write(`${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`);
        }
        return;
      }
    } finally {
      if (whole && !engineFailed) kept?.keep(deps, task, 'text/event-stream');
      clearInterval(keepAlive);
      held.release();
      signal.removeEventListener('abort', leave);
      unsubscribe();
      if (!task.ended) leave();
      stream.end();
    }
  })().catch((error: unknown) => {
    held.release();
    c.get('log').error({ err: error, task_id: id }, 'relay failed');
    stream.end();
  });
  return stream.response;
}
