import type { Context, MiddlewareHandler } from 'hono';
import { isLoopbackHost } from '@llama-orch/config';
import { bodyLimit } from 'hono/body-limit';
import { errorEnvelope } from '@llama-orch/contracts';
import { sendError, type EdgeEnv } from './edge.ts';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export interface BrowserGuardOptions {
  /**
   * Host names (without port) a request may be addressed to; null: any (a server bound to a routable address
   * behind a load balancer, where API keys guard the door).
   */
  readonly allowedHosts: ReadonlySet<string> | null;
  /** Origins (`scheme://host[:port]`) of web front ends allowed to call this API, besides its own. */
  readonly allowedOrigins: ReadonlySet<string>;
}

/** The host names a server bound to `bindHost` answers to: loopback names when it is loopback, else any. */
export function hostsFor(bindHost: string): ReadonlySet<string> | null {
  return isLoopbackHost(bindHost) ? new Set([...LOOPBACK_NAMES, bindHost.toLowerCase()]) : null;
}

const originHost = (origin: string): string | null => {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return null;
  }
};

const hostName = (host: string): string => host.toLowerCase().replace(/:\d+$/, '');

/**
 * Keeps web pages from driving the API through a user's browser: a `Host` that is not one of ours (DNS
 * rebinding) and an `Origin` that is neither ours nor allowed (cross-site requests) are refused with 403; a POST
 * with a body must say `application/json` (no form or text/plain "simple request" slips past CORS).
 */
export function browserGuard(options: BrowserGuardOptions): MiddlewareHandler<EdgeEnv> {
  return async (c, next): Promise<Response | undefined> => {
    const host = c.req.header('host') ?? '';
    if (options.allowedHosts !== null && !options.allowedHosts.has(hostName(host)))
      return sendError(c, errorEnvelope('FORBIDDEN', `Host ${host || '(none)'} is not a name this server answers to`));
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== 'null') {
      const same = originHost(origin) === host.toLowerCase();
      if (!same && !options.allowedOrigins.has(origin))
        return sendError(c, errorEnvelope('FORBIDDEN', `Origin ${origin} is not allowed to call this API`));
    } else if (origin === 'null') {
      return sendError(c, errorEnvelope('FORBIDDEN', 'Origin null is not allowed to call this API'));
    }
    if (c.req.method === 'POST' && hasBody(c.req.raw.headers)) {
      const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/json')
        return sendError(
          c,
          errorEnvelope('INVALID_PARAMS', `content-type: must be application/json, not ${type || '(none)'}`),
        );
    }
    await next();
    return undefined;
  };
}

const hasBody = (headers: Headers): boolean =>
  headers.has('transfer-encoding') || Number(headers.get('content-length') ?? '0') > 0;

/**
 * Bodies past `maxBytes` are answered 413 before they are read whole. A body with a Content-Length is judged by
 * that header alone (Node's parser never delivers more than it says), so the route reads it through
 * @hono/node-server's direct path; Node reads and drops the rest of that body, and the connection serves the next
 * request. A chunked one goes through hono's bodyLimit, which counts as it reads and stops reading at the limit: the
 * rest of that body is never read, so that 413 says `Connection: close` and the connection ends with it (kept alive,
 * a client's next request on it would go unanswered). Reading `c.req.raw.body` first, as bodyLimit does, builds a
 * web Request and stream per request: a third of admission's CPU in the benchmark.
 */
export function bodySizeLimit(maxBytes: number): MiddlewareHandler<EdgeEnv> {
  const tooLarge = (c: Context<EdgeEnv>): Response =>
    sendError(c, errorEnvelope('PAYLOAD_TOO_LARGE', `body: larger than the limit of ${maxBytes} bytes`));
  const counting = bodyLimit({
    maxSize: maxBytes,
    onError: (c: Context<EdgeEnv>) => {
      c.header('Connection', 'close');
      return tooLarge(c);
    },
  }) as MiddlewareHandler<EdgeEnv>;
  return async (c, next) => {
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return counting(c, next);
    if (Number(length) > maxBytes) return tooLarge(c);
    await next();
    return undefined;
  };
}
