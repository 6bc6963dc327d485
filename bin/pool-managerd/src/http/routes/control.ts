import type { Hono } from 'hono';
import { DrainRequestSchema, ReloadRequestSchema } from '@llama-orch/contracts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { readBody, sendError } from '@llama-orch/http';

export function controlRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post('/v2/pools/:id/drain', async (c) => {
    const body = await readBody(c, DrainRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const outcome = await deps.control.drain(c.req.param('id'), body.value.deadline_ms);
    return 'code' in outcome ? sendError(c, outcome) : c.json(outcome);
  });

  app.post('/v2/pools/:id/reload', async (c) => {
    const body = await readBody(c, ReloadRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const outcome = await deps.control.reload(c.req.param('id'), body.value);
    return 'code' in outcome ? sendError(c, outcome) : c.json(outcome);
  });
}
