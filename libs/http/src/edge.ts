import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  errorEnvelope,
  httpStatusOf,
  toAnthropicError,
  toOpenAIError,
  validate,
  type ErrorEnvelope,
} from '@llama-orch/contracts';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { jsonDepthExceeds } from './json-depth.ts';

/** Hono variables every route of both daemons can rely on. */
export interface EdgeEnv {
  Variables: { correlationId: string; log: Logger };
}

const CORRELATION = /^[A-Za-z0-9._:-]{1,128}$/;
/** No request of ours nests this deep; a body that does is refused before it is parsed. */
export const MAX_JSON_DEPTH = 64;

/** Echo a valid `X-Correlation-Id` or make one, on every answer; bind it to the request's logger. */
export function correlation(log: Logger): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const given = c.req.header('x-correlation-id');
    const correlationId = given !== undefined && CORRELATION.test(given) ? given : randomUUID();
    c.set('correlationId', correlationId);
    c.set('log', log.child({ correlation_id: correlationId }));
    c.header('X-Correlation-Id', correlationId);
    await next();
  };
}

/**
 * The one place an error becomes an HTTP answer: the envelope (Anthropic's shape on /v1/messages, OpenAI's on the
 * other /v1 routes), the status from the catalogue — or `status`, an engine's own 4xx passed on — and
 * Retry-After / X-Backoff-Ms on a 429 or 503 that advises a delay.
 */
export function sendError<E extends EdgeEnv>(c: Context<E>, envelope: ErrorEnvelope, status?: number): Response {
  const answered = (status ?? httpStatusOf(envelope.code)) as ContentfulStatusCode;
  if (envelope.retry_after_ms !== undefined && (answered === 429 || answered === 503)) {
    c.header('Retry-After', String(Math.max(1, Math.ceil(envelope.retry_after_ms / 1000))));
    c.header('X-Backoff-Ms', String(envelope.retry_after_ms));
  }
  if (c.req.path.startsWith('/v1/messages')) return c.json(toAnthropicError(envelope, answered), answered);
  if (c.req.path.startsWith('/v1/')) {
    const param = /^([A-Za-z_][\w.[\]]*): /.exec(envelope.message)?.[1] ?? null;
    return c.json(toOpenAIError(envelope, param, answered), answered);
  }
  return c.json(envelope, answered);
}

/** Read and validate a JSON body; a bad body is a value naming the field, never a throw. */
export async function readBody<S extends z.ZodType, E extends EdgeEnv>(
  c: Context<E>,
  schema: S,
): Promise<{ ok: true; value: z.output<S> } | { ok: false; envelope: ErrorEnvelope }> {
  let json: unknown;
  try {
    const text = await c.req.text();
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH))
      return {
        ok: false,
        envelope: errorEnvelope('INVALID_PARAMS', `body: nested deeper than ${MAX_JSON_DEPTH} levels`),
      };
    json = JSON.parse(text);
  } catch {
    return { ok: false, envelope: errorEnvelope('INVALID_PARAMS', 'body: not valid JSON') };
  }
  const broken = illFormedString(json, 'body');
  if (broken !== null)
    return {
      ok: false,
      envelope: errorEnvelope('INVALID_PARAMS', `${broken}: contains a lone surrogate (not valid Unicode text)`),
    };
  const checked = validate(schema, json);
  if (!checked.ok) return { ok: false, envelope: errorEnvelope('INVALID_PARAMS', checked.message) };
  return { ok: true, value: checked.value };
}

/**
 * The path of the first string (key or value) that is not well-formed UTF-16, which no engine can tokenize; null
 * when there is none. Recursion is bounded: bodies nest at most MAX_JSON_DEPTH deep by the time this runs.
 */
function illFormedString(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.isWellFormed() ? null : path;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = illFormedString(item, `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (!key.isWellFormed()) return path;
      const found = illFormedString(item, path === 'body' ? key : `${path}.${key}`);
      if (found !== null) return found;
    }
  }
  return null;
}
