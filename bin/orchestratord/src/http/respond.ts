import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { errorEnvelope, httpStatusOf, toOpenAIError, validate, type ErrorEnvelope } from '@llama-orch/contracts';
import type { z } from 'zod';
import type { AppEnv } from './deps.ts';

function backoffHeaders(c: Context<AppEnv>, envelope: ErrorEnvelope): void {
  if (envelope.retry_after_ms !== undefined && httpStatusOf(envelope.code) === 429) {
    c.header('Retry-After', String(Math.max(1, Math.ceil(envelope.retry_after_ms / 1000))));
    c.header('X-Backoff-Ms', String(envelope.retry_after_ms));
  }
}

/** The one place an error becomes an HTTP answer: the envelope, or OpenAI's shape on /v1 routes. */
export function sendError(c: Context<AppEnv>, envelope: ErrorEnvelope): Response {
  backoffHeaders(c, envelope);
  const status = httpStatusOf(envelope.code) as ContentfulStatusCode;
  if (c.req.path.startsWith('/v1/')) {
    const param = /^([A-Za-z_][\w.[\]]*): /.exec(envelope.message)?.[1] ?? null;
    return c.json(toOpenAIError(envelope, param), status);
  }
  return c.json(envelope, status);
}

/** Read and validate a JSON body; a bad body is a value naming the field, never a throw. */
export async function readBody<S extends z.ZodType>(
  c: Context<AppEnv>,
  schema: S,
): Promise<{ ok: true; value: z.output<S> } | { ok: false; envelope: ErrorEnvelope }> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    return { ok: false, envelope: errorEnvelope('INVALID_PARAMS', 'body: not valid JSON') };
  }
  const checked = validate(schema, json);
  if (!checked.ok) return { ok: false, envelope: errorEnvelope('INVALID_PARAMS', checked.message) };
  return { ok: true, value: checked.value };
}
