import type { Hono } from 'hono';
import { DrainRequestSchema, ReloadRequestSchema } from '@llama-orch/contracts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { errorEnvelope } from '@llama-orch/contracts';
import { readBody, sendError } from '@llama-orch/http';

export function controlRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post('/v2/pools/:id/drain', async (c) => {
    const body = await readBody(c, DrainRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const outcome = await deps.control.drain(c.req.param('id'), body.value.deadline_ms);
    return 'code' in outcome ? sendError(c, outcome) : c.json(outcome);
  });

  // Load a pool that is loaded on demand (orchestratord asks when a task needs it); answers at once, 202 while it loads.
  app.post('/v2/pools/:id/load', (c) => {
    const poolId = c.req.param('id');
    if (deps.residency === null) {
      if (!deps.registry.has(poolId))
        return sendError(c, errorEnvelope('NOT_FOUND', `no pool ${poolId} on node ${deps.registry.nodeId}`));
      return sendError(
        c,
        errorEnvelope('CONFLICT', `pool ${poolId}: loading needs pool-managerd to run the engines (LLORCH_CONFIG)`),
      );
    }
    const outcome = deps.residency.load(poolId);
    if ('code' in outcome) return sendError(c, outcome);
    return c.json(outcome, outcome.state === 'ready' ? 200 : 202);
  });

  app.post('/v2/pools/:id/reload', async (c) => {
    const body = await readBody(c, ReloadRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const outcome = await deps.control.reload(c.req.param('id'), body.value);
    return 'code' in outcome ? sendError(c, outcome) : c.json(outcome);
  });
}
