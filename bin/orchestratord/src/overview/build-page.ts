import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));
const require = createRequire(import.meta.url);

/** One file of the operator page as served. */
export interface Asset {
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
export async function buildPage(): Promise<ReadonlyMap<string, Asset>> {
  const assets = new Map<string, Asset>();
  let html = await readFile(join(UI_DIR, 'index.html'), 'utf8');
  for (const link of html.matchAll(/<link rel="stylesheet" href="([^"]+)" \/>/g)) {
    const css = await readFile(stylesheetPath(link[1] ?? ''), 'utf8');
    html = html.replace(link[0], () => `<style>\n${css}</style>`); // a function: `$&` in CSS stays as it is
  }
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
