import { Hono } from 'hono';
import type { Logger } from 'pino';
import { errorEnvelope } from '@llama-orch/contracts';
import { correlation, sendError, type EdgeEnv } from './edge.ts';
import { bodySizeLimit, browserGuard, type BrowserGuardOptions } from './guards.ts';

export interface EdgeAppOptions {
  /** The daemon's name, for the log an internal error points to. */
  readonly daemon: string;
  readonly log: Logger;
  readonly guard: BrowserGuardOptions;
  readonly maxBodyBytes: number;
}

/**
 * The app every daemon's routes are mounted on: correlation ids first (every answer carries one), then the browser
 * guard and the body bound, an envelope for unknown routes, and one place an unexpected throw becomes a 500.
 */
export function createEdgeApp(options: EdgeAppOptions): Hono<EdgeEnv> {
  const app = new Hono<EdgeEnv>();
  app.use(correlation(options.log));
  app.use(browserGuard(options.guard));
  app.use(bodySizeLimit(options.maxBodyBytes));
  app.notFound((c) => sendError(c, errorEnvelope('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    c.get('log').error({ err: error }, 'unhandled error');
    return sendError(c, errorEnvelope('INTERNAL', `internal error; see the ${options.daemon} log`));
  });
  return app;
}
