import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { sendError } from '@llama-orch/http';
import { overviewFor } from '../../overview/overview.ts';
import type { AppDeps, AppEnv } from '../deps.ts';

/**
 * What the operator page shows (issue 20): once as JSON, or once a second as `overview` events. A client that
 * reads slower than that misses pictures rather than queueing them: the next one goes out only when the last one
 * has been written.
 */
export function overviewRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get('/v2/overview', (c) => c.json(overviewFor(c.get('identity'), deps.overview, 0)));

  app.get('/v2/overview/events', (c) => {
    const identity = c.get('identity');
    const held = deps.streams.open(identity);
    if (!held.ok) return sendError(c, held.envelope);
    return streamSSE(c, async (stream) => {
      let since = 0;
      let writing: Promise<void> | null = null;
      const send = (): void => {
        if (writing !== null || stream.aborted) return;
        const picture = overviewFor(identity, deps.overview, since);
        since = picture.throughput.at(-1)?.t ?? since;
        writing = stream
          .writeSSE({ event: 'overview', data: JSON.stringify(picture) })
          .catch(() => undefined)
          .finally(() => (writing = null));
      };
      let stop: () => void = () => undefined;
      const gone = new Promise<void>((resolve) => {
        stop = deps.overview.activity.onTick(send);
        stream.onAbort(resolve);
      });
      try {
        send();
        await gone;
      } finally {
        stop();
        held.release();
      }
    });
  });
}
