import type { Hono } from 'hono';
import { errorEnvelope } from '@llama-orch/contracts';
import { fingerprint, matchesKey, presentedKey } from './auth.ts';
import type { AppDeps, AppEnv } from './deps.ts';
import { createEdgeApp, hostsFor, sendError } from '@llama-orch/http';
import { healthRoutes } from './routes/health.ts';
import { openaiRoutes } from './routes/openai.ts';
import { poolRoutes } from './routes/pools.ts';
import { sessionAndMetaRoutes } from './routes/sessions-meta.ts';
import { taskRoutes } from './routes/tasks.ts';

const OPEN = new Set(['/health', '/ready', '/metrics']);

/** orchestratord's HTTP API (ARCHITECTURE §4), without listening: main.ts serves it. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  // Outermost: every answer, 401s and SSE included, carries the correlation id.
  const app = createEdgeApp({
    daemon: 'orchestratord',
    log: deps.log,
    guard: { allowedHosts: hostsFor(deps.bindHost), allowedOrigins: new Set(deps.allowedOrigins) },
    maxBodyBytes: deps.maxBodyBytes,
  });
  if (deps.apiKeys.length > 0) {
    app.use(async (c, next) => {
      if (OPEN.has(c.req.path)) return next();
      const key = presentedKey(c.req.header('authorization'), c.req.header('x-api-key'));
      if (key === null)
        return sendError(
          c,
          errorEnvelope('UNAUTHORIZED', 'an API key is required (Authorization: Bearer <key> or X-API-Key)'),
        );
      if (!matchesKey(key, deps.apiKeys)) {
        c.get('log').warn({ key_fp: fingerprint(key) }, 'unknown API key');
        return sendError(c, errorEnvelope('UNAUTHORIZED', 'unknown API key'));
      }
      c.set('log', c.get('log').child({ key_fp: fingerprint(key) }));
      return next();
    });
  }
  healthRoutes(app, deps);
  openaiRoutes(app, deps);
  taskRoutes(app, deps);
  sessionAndMetaRoutes(app, deps);
  poolRoutes(app, deps);
  return app;
}
