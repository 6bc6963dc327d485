import { Hono } from 'hono';
import { errorEnvelope } from '@llama-orch/contracts';
import type { AppDeps, AppEnv } from './deps.ts';
import { bodySizeLimit, browserGuard, correlation, hostsFor, sendError } from '@llama-orch/http';
import { controlRoutes } from './routes/control.ts';
import { dispatchRoutes } from './routes/dispatch.ts';
import { healthRoutes } from './routes/health.ts';
import { poolRoutes } from './routes/pools.ts';

/** Engine requests relayed from orchestratord, which bounds client bodies itself (ORCHD_MAX_BODY_BYTES). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** pool-managerd's HTTP API (ARCHITECTURE §4), without listening: main.ts serves it. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(correlation(deps.log));
  app.use(browserGuard({ allowedHosts: hostsFor(deps.bindHost), allowedOrigins: new Set() }));
  app.use(bodySizeLimit(MAX_BODY_BYTES));
  healthRoutes(app, deps);
  poolRoutes(app, deps);
  controlRoutes(app, deps);
  dispatchRoutes(app, deps);
  app.notFound((c) => sendError(c, errorEnvelope('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    c.get('log').error({ err: error }, 'unhandled error');
    return sendError(c, errorEnvelope('INTERNAL', 'internal error; see the pool-managerd log'));
  });
  return app;
}
