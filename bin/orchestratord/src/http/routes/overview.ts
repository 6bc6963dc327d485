import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { sendError } from '@llama-orch/http';
import type { AppDeps, AppEnv } from '../deps.ts';

/**
 * How long one overview stream lasts: then it ends and the page opens the next, presenting its credentials again,
 * so a revoked key, an expired token or a lost role stops seeing the cluster within this time.
 */
export const OVERVIEW_STREAM_MS = 60_000;

/**
 * What the operator page shows (issue 20): once as JSON, or once a second as `overview` events. A client that
 * reads slower than that misses pictures rather than queueing them: the next one goes out only when the last one
 * has been written. Streams end when orchestratord stops, and after OVERVIEW_STREAM_MS.
 */
export function overviewRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get('/v2/overview', (c) => c.json(deps.overview.for(c.get('identity'), 0)));

  app.get('/v2/overview/events', (c) => {
    const identity = c.get('identity');
    const held = deps.overviewStreams.open(identity);
    if (!held.ok) return sendError(c, held.envelope);
    return streamSSE(c, async (stream) => {
      let since = 0;
      let writing: Promise<void> | null = null;
      const send = (): void => {
        if (writing !== null || stream.aborted) return;
        const picture = deps.overview.for(identity, since);
        since = picture.throughput.at(-1)?.t ?? since;
        writing = stream
          .writeSSE({ event: 'overview', data: JSON.stringify(picture) })
          .catch(() => undefined)
          .finally(() => (writing = null));
      };
      const unsubscribe: (() => void)[] = [];
      let timer: NodeJS.Timeout | undefined;
      const over = new Promise<void>((resolve) => {
        unsubscribe.push(deps.overview.activity.onTick(send), deps.overview.activity.onStop(resolve));
        stream.onAbort(resolve);
        timer = setTimeout(resolve, OVERVIEW_STREAM_MS);
      });
      try {
        send();
        await over;
      } finally {
        clearTimeout(timer);
        for (const off of unsubscribe) off();
        held.release();
      }
    });
  });
}
