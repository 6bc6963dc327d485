import type { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../deps.ts';

export function healthRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get('/health', (c) => c.json({ status: 'ok' as const, version: deps.version }));
  app.get('/ready', (c) => {
    const views = deps.scheduler.views();
    // A pool loaded on demand at rest serves too: the first task for it loads it (ORCH-4050).
    const ready = views.some(
      (v) => v.available && (v.status.ready || (v.status.load === 'on-demand' && v.status.state === 'unloaded')),
    );
    const reasons = ready
      ? []
      : views.length === 0
        ? ['no pool-managerd has reported a pool yet']
        : ['no pool is ready (or loaded on demand and at rest) and reachable'];
    return c.json({ ready, reasons }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    c.header('Content-Type', deps.metrics.contentType);
    return c.body(await deps.metrics.metrics());
  });
}
