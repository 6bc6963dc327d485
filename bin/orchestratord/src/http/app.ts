import type { Hono } from 'hono';
import { authenticate } from './auth/index.ts';
import type { AppDeps, AppEnv } from './deps.ts';
import { createEdgeApp, hostsFor } from '@llama-orch/http';
import { anthropicRoutes } from './routes/anthropic.ts';
import { callbackRoutes } from './routes/callbacks.ts';
import { embeddingRoutes } from './routes/embeddings.ts';
import { healthRoutes } from './routes/health.ts';
import { openaiRoutes } from './routes/openai.ts';
import { overviewRoutes } from './routes/overview.ts';
import { poolRoutes } from './routes/pools.ts';
import { rerankRoutes } from './routes/rerank.ts';
import { sessionAndMetaRoutes } from './routes/sessions-meta.ts';
import { taskRoutes } from './routes/tasks.ts';
import { uiRoutes } from './routes/ui.ts';
import { usageRoutes } from './routes/usage.ts';

/** orchestratord's HTTP API (ARCHITECTURE §4), without listening: main.ts serves it. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  // Outermost: every answer, 401s and SSE included, carries the correlation id.
  const edge = createEdgeApp({
    daemon: 'orchestratord',
    log: deps.log,
    guard: { allowedHosts: hostsFor(deps.bindHost), allowedOrigins: new Set(deps.allowedOrigins) },
    maxBodyBytes: deps.maxBodyBytes,
  });
  // The edge's variables plus the caller's identity, which the next middleware sets on every non-open route.
  const app = edge as unknown as Hono<AppEnv>;
  // Every 429, whichever route answered it, counts in the operator page's "refused in the last minute".
  app.use(async (c, next) => {
    await next();
    if (c.res.status === 429) deps.overview.activity.rejected();
  });
  uiRoutes(app); // the page and its scripts hold no data: open, like /health (the data comes from /v2/overview)
  callbackRoutes(app, deps); // before authentication: pool-managerd proves itself by transport (mTLS or loopback)
  app.use(authenticate(deps.auth));
  healthRoutes(app, deps);
  openaiRoutes(app, deps);
  embeddingRoutes(app, deps);
  rerankRoutes(app, deps);
  anthropicRoutes(app, deps);
  taskRoutes(app, deps);
  sessionAndMetaRoutes(app, deps);
  poolRoutes(app, deps);
  overviewRoutes(app, deps);
  usageRoutes(app, deps);
  return app;
}
