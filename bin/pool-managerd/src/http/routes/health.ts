import type { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../deps.ts';

export function healthRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get('/health', (c) => c.json({ status: 'ok' as const, version: deps.version }));

  app.get('/ready', (c) => {
    const statuses = deps.registry.statuses();
    const reasons =
      statuses.length === 0
        ? ['no pool is known yet']
        : statuses.filter((s) => !s.ready).map((s) => `pool ${s.pool_id} is ${s.state}`);
    const ready = statuses.some((s) => s.ready);
    return c.json({ ready, reasons }, ready ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    c.header('Content-Type', deps.metrics.contentType);
    return c.body(await deps.metrics.metrics());
  });
}
