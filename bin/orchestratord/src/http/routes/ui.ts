import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';
import { errorEnvelope } from '@llama-orch/contracts';
import { sendError } from '@llama-orch/http';
import type { AppEnv } from '../deps.ts';

const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));
const require = createRequire(import.meta.url);

interface Asset {
  readonly body: string;
  readonly type: string;
  readonly etag: string;
  /** Its name carries its content's hash: browsers may keep it for good. */
  readonly immutable: boolean;
}

const etagOf = (body: string): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;

const asset = (body: string, type: string, immutable = false): Asset => ({
  body,
  type,
  etag: etagOf(body),
  immutable,
});

/** A stylesheet the page links: ui/<name>, or a file of a package (`uplot/dist/uPlot.min.css`). */
function stylesheetPath(href: string): string {
  if (/^[a-z][a-z0-9-]*\.css$/.test(href)) return join(UI_DIR, href);
  const [pkg = '', ...rest] = href.split('/');
  return join(dirname(require.resolve(`${pkg}/package.json`)), ...rest);
}

/**
 * The page: its HTML with its stylesheets inside (they would block its first paint, each on a connection of its
 * own), and its TypeScript (ui/*.ts, checked with the rest, see ui/tsconfig.json) bundled with the libraries it
 * imports by esbuild into one minified module, plus a chunk for uPlot, which the page loads once it is up. Built at
 * the first request for the page (about 0.1 s, once): a daemon nobody opens the page of never runs esbuild.
 */
async function buildPage(): Promise<ReadonlyMap<string, Asset>> {
  const assets = new Map<string, Asset>();
  let html = await readFile(join(UI_DIR, 'index.html'), 'utf8');
  for (const link of html.matchAll(/<link rel="stylesheet" href="([^"]+)" \/>/g))
    html = html.replace(link[0], `<style>\n${await readFile(stylesheetPath(link[1] ?? ''), 'utf8')}</style>`);
  assets.set('', asset(html, 'text/html; charset=utf-8'));
  const esbuild = await import('esbuild');
  try {
    const built = await esbuild.build({
      entryPoints: [join(UI_DIR, 'main.ts')],
      bundle: true,
      format: 'esm',
      splitting: true,
      minify: true,
      target: 'es2022',
      outdir: '/ui/assets',
      entryNames: '[name]',
      chunkNames: '[name]-[hash]',
      write: false,
      logLevel: 'silent',
    });
    for (const file of built.outputFiles)
      assets.set(
        `assets/${basename(file.path)}`,
        asset(file.text, 'text/javascript; charset=utf-8', file.path !== '/ui/assets/main.js'),
      );
  } finally {
    await esbuild.stop(); // its service process is not kept for a build done once
  }
  return assets;
}

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
