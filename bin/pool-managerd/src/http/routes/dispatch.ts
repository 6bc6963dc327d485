import type { Hono } from 'hono';
import {
  DispatchRequestSchema,
  errorEnvelope,
  KvEraseRequestSchema,
  type KvEraseResponse,
} from '@llama-orch/contracts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { rawStream, readBody, sendError } from '@llama-orch/http';

export function dispatchRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post('/v2/pools/:id/dispatch', async (c) => {
    const poolId = c.req.param('id');
    if (!deps.registry.has(poolId))
      return sendError(c, errorEnvelope('NOT_FOUND', `no pool ${poolId} on node ${deps.registry.nodeId}`));
    const body = await readBody(c, DispatchRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const outcome = await deps.dispatcher.dispatch(
      poolId,
      body.value,
      c.req.raw.signal,
      c.get('correlationId'),
      c.req.header('traceparent'),
    );
    if (outcome.kind === 'refused') return sendError(c, outcome.envelope);
    const client = rawStream(c, outcome.status, {
      'content-type': outcome.contentType,
      'cache-control': 'no-cache',
      'x-correlation-id': c.get('correlationId'),
    });
    outcome.relayTo(client);
    return client.response;
  });

  // A session was deleted: free the KV cache its conversation left in an engine slot (issue 19).
  app.post('/v2/pools/:id/kv/erase', async (c) => {
    const poolId = c.req.param('id');
    if (!deps.registry.has(poolId))
      return sendError(c, errorEnvelope('NOT_FOUND', `no pool ${poolId} on node ${deps.registry.nodeId}`));
    const body = await readBody(c, KvEraseRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const erased = await deps.dispatcher.erase(poolId, body.value.cache_key);
    return c.json({ pool_id: poolId, erased_tokens: erased } satisfies KvEraseResponse);
  });
}
