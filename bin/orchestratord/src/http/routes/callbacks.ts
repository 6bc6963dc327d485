import type { Hono } from 'hono';
import { errorEnvelope, POOL_READY_CALLBACK_PATH, PoolReadyCallbackSchema } from '@llama-orch/contracts';
import { peerOf, readBody, sendError, transportRefusal } from '@llama-orch/http';
import type { Logger } from 'pino';
import type { AppDeps, AppEnv } from '../deps.ts';

/**
 * pool-managerd's readiness callback (ARCHITECTURE §7, optional): one of its pools changed state, so the pools are
 * polled now instead of at the next interval. Mounted before authentication: the caller proves itself by its
 * transport, not by an API key — over HTTPS with a client certificate from the cluster CA (ORCHD_TLS_CA), over plain
 * HTTP from loopback. The poll's answer is what counts; the body is only logged.
 */
export function callbackRoutes(app: Hono<AppEnv>, deps: Pick<AppDeps, 'poller' | 'log'>): void {
  const pollNow = pollsOnDemand(() => deps.poller.pollOnce(), deps.log);
  app.post(POOL_READY_CALLBACK_PATH, async (c) => {
    const peer = peerOf(c.env);
    const caller = { peer: peer.address, subject: peer.tls?.subject ?? null, serial_number: peer.tls?.serialNumber };
    const refusal = transportRefusal(peer);
    if (refusal !== null) {
      c.get('log').warn({ ...caller, reason: refusal }, 'readiness callback refused');
      return sendError(c, errorEnvelope('UNAUTHORIZED', `readiness callback: ${refusal}`));
    }
    const body = await readBody(c, PoolReadyCallbackSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const { pool_id, node_id, state } = body.value;
    c.get('log').info({ ...caller, pool_id, node_id, state }, 'readiness callback; polling the pool-managerds now');
    pollNow();
    return c.body(null, 202);
  });
}

/**
 * Polls asked for by callbacks: never two at once, and one asked for while a poll runs runs once more after it (the
 * running poll may have read the node before the change). A burst of callbacks costs at most two polls.
 */
function pollsOnDemand(poll: () => Promise<void>, log: Logger): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void poll()
      .catch((error: unknown) => log.warn({ err: error }, 'poll after a readiness callback failed'))
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return run;
}
