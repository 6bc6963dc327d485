import { createHash } from 'node:crypto';
import { errorEnvelope, type ErrorEnvelope } from '@llama-orch/contracts';
import { sendError } from '@llama-orch/http';
import type { Context } from 'hono';
import { ANSWER_KEPT_MS } from '../journal/records.ts';
import { requestHash } from '../journal/request-hash.ts';
import type { Task } from '../tasks/task.ts';
import type { AppDeps, AppEnv } from './deps.ts';

/** Answers larger than this (UTF-16 characters) are not kept: a retry of such a request runs again. */
const MAX_KEPT_CHARS = 1024 * 1024;

/** A /v1 request sent with an Idempotency-Key: its task id (from the caller and the key) and its request hash. */
export interface Idempotent {
  readonly id: string;
  readonly hash: string;
}

/**
 * The Idempotency-Key of a /v1 request, if it has one: the task id is derived from the caller and the key, so every
 * replica sharing the journal finds the first request under it. A bad key is the caller's error.
 */
export function idempotencyOf(
  c: Context<AppEnv>,
  prefix: string,
  endpoint: string,
  body: unknown,
): { ok: true; value: Idempotent | null } | { ok: false; envelope: ErrorEnvelope } {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return { ok: true, value: null };
  if (!/^[\x21-\x7e]{1,255}$/.test(key))
    return {
      ok: false,
      envelope: errorEnvelope('INVALID_PARAMS', 'Idempotency-Key: must be 1 to 255 visible ASCII characters'),
    };
  const owner = c.get('identity').owner;
  const digest = createHash('sha256').update(`${owner}\n${key}`).digest('hex').slice(0, 32);
  return { ok: true, value: { id: `${prefix}-key-${digest}`, hash: requestHash(owner, endpoint, body) } };
}

/**
 * What a request whose key was seen before gets: the kept answer of the same request (replayed, with
 * `Idempotent-Replayed: true`), a 409 while the first is still running or when the key was used for another request;
 * null when it should run (a first request, or a retry of one that failed and kept no answer).
 */
export async function replayed(c: Context<AppEnv>, deps: AppDeps, request: Idempotent): Promise<Response | null> {
  const live = deps.scheduler.task(request.id);
  const record = live !== undefined ? null : await deps.journal?.task(request.id);
  const hash = live !== undefined ? live.spec.requestHash : record?.request_hash;
  if (live === undefined && (record === null || record === undefined)) return null;
  if (hash !== request.hash)
    return sendError(c, errorEnvelope('CONFLICT', 'Idempotency-Key was used for another request; use a new key'));
  const running = live !== undefined ? !live.ended : record?.state === 'queued' || record?.state === 'running';
  if (running) return sendError(c, stillRunning());
  const kept = await deps.journal?.response(request.id);
  if (kept === null || kept === undefined || Date.now() - kept.at > ANSWER_KEPT_MS) return null;
  return c.body(kept.body, 200, { 'content-type': kept.content_type, 'idempotent-replayed': 'true' });
}

/** A retry while the key's first request runs (here or on another replica). */
export const stillRunning = (): ErrorEnvelope =>
  errorEnvelope('CONFLICT', 'a request with this Idempotency-Key is still running; retry when it has ended', {
    retriable: true,
    retry_after_ms: 1000,
  });

/** The journal failed while a key was looked up: a 503, the driver's words logged, not sent. */
export function journalDown(c: Context<AppEnv>, error: unknown): Response {
  c.get('log').error({ err: error }, 'the journal failed: look up an Idempotency-Key');
  return sendError(
    c,
    errorEnvelope('JOURNAL_UNAVAILABLE', 'the task journal cannot be reached to look up the Idempotency-Key', {
      retry_after_ms: 1000,
    }),
  );
}

/** The answer a relayed request sent, collected to be kept for its Idempotency-Key. */
export class KeptAnswer {
  #text = '';
  #whole = true;

  add(text: string): void {
    if (!this.#whole) return;
    if (this.#text.length + text.length > MAX_KEPT_CHARS) {
      this.#whole = false;
      this.#text = '';
      return;
    }
    this.#text += text;
  }

  /** Keep it in the journal if the task ended with a whole answer (not an error, not canceled, not too large). */
  keep(deps: AppDeps, task: Task, contentType: string): void {
    const last = task.events.at(-1);
    const whole = last?.event === 'end' && last.data.finish_reason !== 'canceled';
    if (!whole || !this.#whole || deps.journal === null) return;
    deps.journal.keepResponse({ task_id: task.id, content_type: contentType, body: this.#text, at: Date.now() });
  }
}
