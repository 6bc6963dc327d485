import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import { errorEnvelope } from '@llama-orch/contracts';
import { sendError } from '@llama-orch/http';
import type { AppEnv } from '../deps.ts';

const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));
const require = createRequire(import.meta.url);
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));

/** The front-end libraries the page imports, by the path it asks for under /ui/vendor/. */
const VENDOR: Readonly<Record<string, () => string>> = {
  'preact.mjs': () => join(packageDir('preact'), 'dist/preact.mjs'),
  'preact-hooks.mjs': () => join(packageDir('preact'), 'hooks/dist/hooks.mjs'),
  // htm exports no ./package.json: its CommonJS entry lies beside the module.
  'htm.mjs': () => join(dirname(require.resolve('htm')), 'htm.mjs'),
  'uplot.mjs': () => join(packageDir('uplot'), 'dist/uPlot.esm.js'),
  'uplot.css': () => join(packageDir('uplot'), 'dist/uPlot.min.css'),
  'eventsource-parser/index.js': () => join(packageDir('eventsource-parser'), 'dist/index.js'),
  'eventsource-parser/parse.js': () => join(packageDir('eventsource-parser'), 'dist/parse.js'),
  'eventsource-parser/errors.js': () => join(packageDir('eventsource-parser'), 'dist/errors.js'),
};

const JS = 'text/javascript; charset=utf-8';
const TYPES: Readonly<Record<string, string>> = { mjs: JS, js: JS, ts: JS, css: 'text/css; charset=utf-8' };
const MODULE_NAME = /^[a-z][a-z0-9-]*\.ts$/;

interface Asset {
  readonly body: string;
  readonly type: string;
  readonly etag: string;
}

const etagOf = (body: string): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;

/**
 * The page's own modules are TypeScript (checked with the rest, see ui/tsconfig.json); the browser gets them with
 * the types stripped by amaro, Node's own type stripper, loaded on the first request for one (about 0.1 s, once).
 */
async function stripped(source: string): Promise<string> {
  const { transformSync } = await import('amaro');
  return transformSync(source, { mode: 'strip-only' }).code;
}

/** The page's HTML, its Content-Security-Policy (the inline import map allowed by its hash), and its assets. */
class UiAssets {
  readonly #cache = new Map<string, Promise<Asset>>();

  #load(key: string, read: () => Promise<{ body: string; type: string }>): Promise<Asset> {
    let asset = this.#cache.get(key);
    if (asset === undefined) {
      asset = read().then(({ body, type }) => ({ body, type, etag: etagOf(body) }));
      asset.catch(() => this.#cache.delete(key)); // a failed read is tried again next time
      this.#cache.set(key, asset);
    }
    return asset;
  }

  page(): Promise<Asset & { csp: string }> {
    return this.#load('index.html', async () => ({
      body: await readFile(join(UI_DIR, 'index.html'), 'utf8'),
      type: 'text/html; charset=utf-8',
    })).then((asset) => {
      const inline = /<script type="importmap">([\s\S]*?)<\/script>/.exec(asset.body)?.[1] ?? '';
      const hash = createHash('sha256').update(inline).digest('base64');
      const csp = [
        "default-src 'self'",
        `script-src 'self' 'sha256-${hash}'`,
        "style-src 'self' 'unsafe-inline'", // uPlot sizes its canvas with inline styles
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
      ].join('; ');
      return { ...asset, csp };
    });
  }

  /** A module or stylesheet of the page (ui/<name>), or a vendored library; undefined for anything else. */
  file(path: string): Promise<Asset> | undefined {
    if (path.startsWith('vendor/')) {
      const resolve = VENDOR[path.slice('vendor/'.length)];
      if (resolve === undefined) return undefined;
      return this.#load(path, async () => ({ body: await readFile(resolve(), 'utf8'), type: typeOf(path) }));
    }
    if (path === 'style.css')
      return this.#load(path, async () => ({ body: await readFile(join(UI_DIR, path), 'utf8'), type: typeOf(path) }));
    if (MODULE_NAME.test(path))
      return this.#load(path, async () => ({
        body: await stripped(await readFile(join(UI_DIR, path), 'utf8')),
        type: JS,
      }));
    return undefined;
  }

  /** Read and strip everything the page loads, so its first visitor does not wait for it. */
  async warm(): Promise<void> {
    const page = await this.page();
    const wanted = [...page.body.matchAll(/(?:href|src)="\/ui\/([^"]+)"/g)].map((m) => m[1] ?? '');
    await Promise.all(wanted.map((path) => this.file(path)?.catch(() => undefined) ?? Promise.resolve(undefined)));
  }
}

function typeOf(path: string): string {
  return TYPES[path.slice(path.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

/** How long after the start the page's assets are prepared (not during the start itself: that is for the pools). */
const WARM_AFTER_MS = 3_000;

/** The operator page (issue 20): GET /ui and what it loads. Open: it holds no data, /v2/overview does. */
export function uiRoutes(app: Hono<AppEnv>): void {
  const assets = new UiAssets();
  setTimeout(() => void assets.warm().catch(() => undefined), WARM_AFTER_MS).unref();
  app.get('/ui', async (c) => {
    const page = await assets.page();
    return c.body(page.body, 200, {
      'content-type': page.type,
      'content-security-policy': page.csp,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
  });
  app.get('/ui/*', async (c) => {
    const path = c.req.path.slice('/ui/'.length);
    const asset = assets.file(path);
    if (asset === undefined) return sendError(c, errorEnvelope('NOT_FOUND', `no ${c.req.path}`));
    const { body, type, etag } = await asset;
    const headers = { etag, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
    return c.body(body, 200, { ...headers, 'content-type': type });
  });
}
