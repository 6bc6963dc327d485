import type { Hono } from 'hono';
import type { AppDeps, AppEnv } from './deps.ts';
import { createEdgeApp, hostsFor } from '@llama-orch/http';
import { controlRoutes } from './routes/control.ts';
import { dispatchRoutes } from './routes/dispatch.ts';
import { healthRoutes } from './routes/health.ts';
import { poolRoutes } from './routes/pools.ts';

/** Engine requests relayed from orchestratord, which bounds client bodies itself (ORCHD_MAX_BODY_BYTES). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** pool-managerd's HTTP API (ARCHITECTURE §4), without listening: main.ts serves it. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = createEdgeApp({
    daemon: 'pool-managerd',
    log: deps.log,
    guard: { allowedHosts: hostsFor(deps.bindHost), allowedOrigins: new Set() },
    maxBodyBytes: MAX_BODY_BYTES,
  });
  healthRoutes(app, deps);
  poolRoutes(app, deps);
  controlRoutes(app, deps);
  dispatchRoutes(app, deps);
  return app;
}
