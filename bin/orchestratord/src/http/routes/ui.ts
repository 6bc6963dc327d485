import type { Context, Hono } from 'hono';
import { errorEnvelope } from '@llama-orch/contracts';
import { sendError } from '@llama-orch/http';
import { buildPage, type Asset } from '../../overview/build-page.ts';
import type { AppEnv } from '../deps.ts';

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'", // its stylesheets are inside it, and uPlot sizes its canvas inline
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The operator page (issue 20): GET /ui and what it loads. Open: it holds no data, /v2/overview does. */
export function uiRoutes(app: Hono<AppEnv>): void {
  let page: Promise<ReadonlyMap<string, Asset>> | null = null;
  const built = (): Promise<ReadonlyMap<string, Asset>> => {
    page ??= buildPage();
    page.catch(() => (page = null)); // a failed build is tried again on the next request, and logged by the edge
    return page;
  };
  const serve = async (path: string, c: Context<AppEnv>): Promise<Response> => {
    const found = (await built()).get(path);
    if (found === undefined) return sendError(c, errorEnvelope('NOT_FOUND', `no ${c.req.path}`));
    const headers: Record<string, string> = {
      etag: found.etag,
      'cache-control': found.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(path === '' ? { 'content-security-policy': CSP, 'referrer-policy': 'no-referrer' } : {}),
    };
    if (c.req.header('if-none-match') === found.etag) return c.body(null, 304, headers);
    return c.body(found.body, 200, { ...headers, 'content-type': found.type });
  };
  app.get('/ui', (c) => serve('', c));
  app.get('/ui/*', (c) => serve(c.req.path.slice('/ui/'.length), c));
}
