import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { errorEnvelope, httpStatusOf, validate, type ErrorEnvelope } from '@llama-orch/contracts';
import type { z } from 'zod';
import type { AppEnv } from './deps.ts';

/** The one place an error envelope becomes an HTTP answer. */
export function sendError(c: Context<AppEnv>, envelope: ErrorEnvelope): Response {
  if (envelope.retry_after_ms !== undefined && httpStatusOf(envelope.code) === 429) {
    c.header('Retry-After', String(Math.max(1, Math.ceil(envelope.retry_after_ms / 1000))));
    c.header('X-Backoff-Ms', String(envelope.retry_after_ms));
  }
  return c.json(envelope, httpStatusOf(envelope.code) as ContentfulStatusCode);
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
