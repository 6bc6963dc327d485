import type { Hono } from 'hono';
import { errorEnvelope } from '@llama-orch/contracts';
import { sendError } from '@llama-orch/http';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { reportedPools } from '../../overview/overview.ts';
import { refuseUnless } from '../auth/index.ts';
import type { AppDeps, AppEnv } from '../deps.ts';

/** The model a reload names, for the log (pool-managerd validates the body and checks its allow-list). */
function modelRefOf(body: string): string | undefined {
  try {
    const ref = (JSON.parse(body) as { model_ref?: unknown }).model_ref;
    return typeof ref === 'string' ? ref.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

export function poolRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get('/v2/pools', (c) =>
    c.json({
      pools: reportedPools(deps.scheduler.views()),
    }),
  );

  app.get('/v2/pools/:id/health', (c) => {
    const view = deps.scheduler.views().find((v) => v.status.pool_id === c.req.param('id'));
    if (view === undefined) return sendError(c, errorEnvelope('NOT_FOUND', `no pool ${c.req.param('id')}`));
    return c.json({
      pool_id: view.status.pool_id,
      live: view.available && view.status.live,
      ready: view.available && view.status.ready,
      draining: view.status.draining,
      metrics: {
        queue_depth: deps.scheduler.queueDepth(),
        slots_total: view.status.slots_total,
        slots_free: view.status.slots_free,
      },
      last_error: view.available ? view.status.last_error : `pool-managerd ${view.nodeUrl} is unreachable`,
    });
  });

  for (const action of ['drain', 'reload', 'load'] as const) {
    app.post(`/v2/pools/:id/${action}`, async (c) => {
      const poolId = c.req.param('id');
      const refused = refuseUnless(c, 'admin', `pool ${action}`);
      if (refused !== null) return refused;
      const body = await c.req.text();
      const identity = c.get('identity');
      // A control action: logged with who asked for it (the identity's label, never its credential).
      c.get('log').info(
        { pool_id: poolId, action, identity: identity.label, model_ref: modelRefOf(body) },
        `pool ${action} requested`,
      );
      const node = deps.poller.nodeOf(poolId);
      if (node === null) return sendError(c, errorEnvelope('NOT_FOUND', `no pool ${poolId}`));
      const answer = await deps.client.control(node, poolId, action, body, c.get('correlationId'));
      c.get('log').info(
        {
          pool_id: poolId,
          action,
          identity: identity.label,
          status: answer.kind === 'unreachable' ? 'unreachable' : answer.status,
        },
        `pool ${action} answered`,
      );
      if (answer.kind === 'unreachable')
        return sendError(
          c,
          errorEnvelope('POOL_UNAVAILABLE', `pool-managerd ${node} did not answer: ${answer.reason}`, {
            retry_after_ms: 1000,
          }),
        );
      return c.body(answer.body, answer.status as ContentfulStatusCode, { 'content-type': 'application/json' });
    });
  }
}
