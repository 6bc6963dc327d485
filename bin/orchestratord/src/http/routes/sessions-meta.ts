import type { Hono } from 'hono';
import { API_VERSION, errorEnvelope } from '@llama-orch/contracts';
import { sessionKey } from '../../tasks/sessions.ts';
import { sessionCacheKey } from '../../tasks/task-runner.ts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { sendError } from '@llama-orch/http';

export function sessionAndMetaRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  // Session ids are the caller's own: another identity's session of the same id is another session (404 here).
  app.get('/v2/sessions/:id', (c) => {
    // kv_warmth needs the session's pool to serve now: reachable, ready, not draining.
    const serving = new Set(
      deps.scheduler
        .views()
        .filter((v) => v.available && v.status.ready && !v.status.draining)
        .map((v) => v.status.pool_id),
    );
    const views = deps.scheduler.views();
    const info = deps.sessions.info(
      sessionKey(c.get('identity').owner, c.req.param('id')),
      (pool) => serving.has(pool),
      (pool) => views.find((v) => v.status.pool_id === pool)?.status.kv_bytes_per_token ?? null,
    );
    return info === null
      ? sendError(c, errorEnvelope('NOT_FOUND', `no session ${c.req.param('id')} (unknown or expired)`))
      : c.json(info);
  });
  app.delete('/v2/sessions/:id', async (c) => {
    const key = sessionKey(c.get('identity').owner, c.req.param('id'));
    const poolId = deps.sessions.affinity(key);
    if (!deps.sessions.delete(key)) return sendError(c, errorEnvelope('NOT_FOUND', `no session ${c.req.param('id')}`));
    // The KV cache its conversation left in an engine slot goes too: no later request reuses (or reads) it.
    const view = deps.scheduler.views().find((v) => v.status.pool_id === poolId && v.available);
    if (view !== undefined) {
      const body = JSON.stringify({ cache_key: sessionCacheKey(key) });
      const answer = await deps.client.control(
        view.nodeUrl,
        view.status.pool_id,
        'kv/erase',
        body,
        c.get('correlationId'),
      );
      if (answer.kind !== 'answered' || answer.status !== 200)
        deps.log.warn(
          {
            pool_id: view.status.pool_id,
            outcome: answer.kind === 'answered' ? `HTTP ${answer.status}` : answer.reason,
          },
          'could not free the KV cache of a deleted session',
        );
    }
    return c.body(null, 204);
  });

  app.get('/v2/meta/version', (c) => c.json({ api_version: API_VERSION, version: deps.version, build_commit: null }));
  app.get('/v2/meta/capabilities', (c) => {
    const views = deps.scheduler.views().filter((v) => v.available);
    const versions = [...new Set(views.map((v) => v.status.engine_version))];
    return c.json({
      api_version: API_VERSION,
      engines: [
        {
          engine: 'llamacpp' as const,
          engine_version: versions.length === 1 ? (versions[0] ?? null) : null,
          ctx_max: Math.max(0, ...views.map((v) => v.status.ctx_max)),
          supported_workloads: ['completion' as const],
          slots_total: views.reduce((sum, v) => sum + v.status.slots_total, 0),
          models: [...new Set(views.map((v) => v.status.model))].sort(),
        },
      ],
      admission: { capacity: deps.scheduler.capacity, policy: deps.scheduler.policy },
    });
  });
}
