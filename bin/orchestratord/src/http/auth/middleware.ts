import type { Context, MiddlewareHandler } from 'hono';
import { errorEnvelope } from '@llama-orch/contracts';
import { sendError } from '@llama-orch/http';
import type { AppEnv } from '../deps.ts';
import type { Authenticator } from './authenticator.ts';
import type { Role } from './identity.ts';

/** Liveness, readiness and metrics answer without credentials. */
const OPEN = new Set(['/health', '/ready', '/metrics']);

/**
 * Identify the caller (401 with the envelope when that fails) and bind who it is to the request's logger; routes
 * read it with `c.get('identity')`.
 */
export function authenticate(auth: Authenticator): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (OPEN.has(c.req.path)) return next();
    const outcome = await auth.identify(c.req.header('authorization'), c.req.header('x-api-key'));
    if (outcome.kind === 'refused') {
      c.get('log').warn(outcome.log, 'request refused: not authenticated');
      return sendError(
        c,
        errorEnvelope(
          'UNAUTHORIZED',
          outcome.message,
          outcome.retriable ? { retriable: true, retry_after_ms: 1000 } : {},
        ),
      );
    }
    const identity = outcome.identity;
    c.set('identity', identity);
    if (auth.enabled) c.set('log', c.get('log').child({ identity: identity.label, role: identity.role }));
    return next();
  };
}

/** A 403 unless the caller has `role` (admins have every role). */
export function refuseUnless(c: Context<AppEnv>, role: Role, what: string): Response | null {
  const identity = c.get('identity');
  if (role === 'client' || identity.role === 'admin') return null;
  c.get('log').warn({ action: what }, 'request refused: needs the admin role');
  return sendError(c, errorEnvelope('FORBIDDEN', `${what} needs the admin role`));
}
