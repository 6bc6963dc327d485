import type { Hono } from 'hono';
import { errorEnvelope } from '@llama-orch/contracts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { sendError } from '@llama-orch/http';

export function poolRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get('/v2/pools', (c) => c.json({ pools: deps.registry.statuses() }));

  app.get('/v2/pools/:id/status', (c) => {
    const status = deps.registry.status(c.req.param('id'));
    if (status === null)
      return sendError(c, errorEnvelope('NOT_FOUND', `no pool ${c.req.param('id')} on node ${deps.registry.nodeId}`));
    return c.json(status);
  });
}
