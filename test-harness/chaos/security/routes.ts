/**
 * Check 1: every route of orchestratord's routes/*.ts sent requests without valid credentials (none, wrong keys,
 * the right key in a query string or as Basic, forged, expired and unsigned JWTs), each answer tallied; the probes
 * and the ways of asking, the routes read from the source, and probeRoutes, which says which routes none reached.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { POOL_READY_CALLBACK_PATH } from '@llama-orch/contracts';
import { strangerKey, unsignedToken } from '../../src/oidc-issuer.ts';
import type { OpenRoute, RouteTally, SecurityResult } from './types.ts';
import { HI, ROOT, SESSION, TASK, hex, send, type Answer, type World } from './world.ts';

interface Probe {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
  /** Valid credentials are the cluster client certificate, not a key (the readiness callback). */
  readonly byTransport?: true;
  /** An event stream that does not end: with valid credentials only its first bytes are read. */
  readonly stream?: true;
}

const PROBES: readonly Probe[] = [
  { method: 'GET', path: '/v1/models' },
  { method: 'POST', path: '/v1/chat/completions', body: { model: 'demo', messages: HI, max_tokens: 2 } },
  { method: 'POST', path: '/v1/completions', body: { model: 'demo', prompt: 'Hi', max_tokens: 2 } },
  { method: 'POST', path: '/v1/responses', body: { model: 'demo', input: 'Hi', max_output_tokens: 2 } },
  { method: 'GET', path: '/v1/responses/resp_sec' },
  { method: 'POST', path: '/v1/responses/resp_sec/cancel' },
  { method: 'POST', path: '/v1/messages', body: { model: 'demo', messages: HI, max_tokens: 2 } },
  { method: 'POST', path: '/v1/messages/count_tokens', body: { model: 'demo', messages: HI } },
  { method: 'POST', path: '/v1/embeddings', body: { model: 'demo', input: 'Hi' } },
  { method: 'POST', path: '/v1/rerank', body: { model: 'demo', query: 'Hi', documents: ['a', 'b'] } },
  { method: 'POST', path: '/v2/tasks', body: { task_id: 'sec-probe', model_ref: 'demo', prompt: 'Hi', max_tokens: 2 } },
  { method: 'GET', path: `/v2/tasks/${TASK}` },
  { method: 'GET', path: `/v2/tasks/${TASK}/events` },
  { method: 'POST', path: `/v2/tasks/${TASK}/cancel` },
  { method: 'GET', path: `/v2/sessions/${SESSION}` },
  { method: 'DELETE', path: `/v2/sessions/${SESSION}` },
  { method: 'GET', path: '/v2/meta/version' },
  { method: 'GET', path: '/v2/meta/capabilities' },
  { method: 'GET', path: '/v2/pools' },
  { method: 'GET', path: '/v2/pools/demo/health' },
  { method: 'POST', path: '/v2/pools/demo/drain', body: { deadline_ms: 1000 } },
  { method: 'POST', path: '/v2/pools/demo/reload', body: { model_ref: 'demo' } },
  { method: 'GET', path: '/v2/overview' },
  { method: 'GET', path: '/v2/overview/events', stream: true },
  { method: 'GET', path: '/v2/usage' },
  { method: 'GET', path: '/v2/no-such-route' },
  {
    method: 'POST',
    path: POOL_READY_CALLBACK_PATH,
    body: { pool_id: 'demo', node_id: 'node-0', state: 'ready' },
    byTransport: true,
  },
];
/** SEC-4007: every route but these needs credentials (the operator page and its scripts hold no data). */
const OPEN = ['/health', '/ready', '/metrics', '/ui', '/ui/assets/main.js'];

interface Variant {
  readonly name: string;
  readonly headers: Record<string, string>;
  readonly query: string;
}

const label = (a: Answer): string => (a.status === null ? `no answer (${a.failure ?? '?'})` : String(a.status));

async function variantsOf(w: World): Promise<Variant[]> {
  const key = w.clientKey;
  const wrong = `sk-sec-client-${hex(16)}`;
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const forged = await w.issuer.sign({ subject: 'mallory', key: await strangerKey(w.issuer.current().kid) });
  const expired = await w.issuer.sign({ subject: 'mallory', expiresIn: -120 });
  const unsigned = unsignedToken({
    iss: w.issuer.issuer,
    aud: 'llama-orch',
    sub: 'mallory',
    exp: Date.now() / 1e3 + 300,
  });
  const v = (name: string, headers: Record<string, string>, query = ''): Variant => ({ name, headers, query });
  return [
    v('no credentials', {}),
    v('a wrong key as Bearer', bearer(wrong)),
    v('a wrong key as X-API-Key', { 'x-api-key': wrong }),
    v('the right key in ?api_key=', {}, `api_key=${key}`),
    v('the right key in ?key=', {}, `key=${key}`),
    v('the right key in ?access_token=', {}, `access_token=${key}`),
    v('the right key as Basic credentials', { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` }),
    v('a forged JWT (a stranger key, the issuer kid)', bearer(forged)),
    v('an expired JWT (2 min, past the 30 s skew)', bearer(expired)),
    v('an unsigned JWT (alg none)', bearer(unsigned)),
  ];
}

/** Routes the source declares: `app.<method>('<path>'` (template parts and `:params` match any segment). */
async function routesInSource(): Promise<{ readonly route: string; readonly method: string; readonly re: RegExp }[]> {
  const dir = join(ROOT, 'bin/orchestratord/src/http/routes');
  const constants: Record<string, string> = { POOL_READY_CALLBACK_PATH };
  const out = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort()) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const m of text.matchAll(/app\.(get|post|put|patch|delete|all)\(\s*(?:'([^']*)'|`([^`]*)`|(\w+)\s*,)/g)) {
      const method = (m[1] ?? '').toUpperCase();
      const path = m[2] ?? m[3] ?? constants[m[4] ?? ''] ?? `<${m[4] ?? '?'}>`;
      const source = path
        .split(/(\$\{[^}]*\}|:\w+|\*)/)
        .map((part) =>
          part.startsWith('${') || part.startsWith(':')
            ? '[^/]+'
            : part === '*'
              ? '.+'
              : part.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&'),
        )
        .join('');
      out.push({ route: `${method} ${path} (${file})`, method, re: new RegExp(`^${source}$`) });
    }
  }
  return out;
}

export async function probeRoutes(w: World): Promise<SecurityResult['routes']> {
  const variants = await variantsOf(w);
  const tallies: RouteTally[] = [];
  for (const probe of PROBES) {
    const notRefused: string[] = [];
    let refused = 0;
    for (const variant of variants) {
      const query = variant.query === '' ? '' : `?${variant.query}`;
      const a = await send(w.agent, `${w.url}${probe.path}${query}`, probe.method, variant.headers, probe.body);
      if (a.status === 401 || a.status === 403) refused += 1;
      else notRefused.push(`${variant.name} → ${label(a)}`);
    }
    // Valid credentials with an empty body: a 4xx of the route itself, never a 401, and no work started.
    const control = probe.byTransport
      ? await send(w.clusterAgent, `${w.url}${probe.path}`, probe.method, {}, probe.body)
      : await send(
          w.agent,
          `${w.url}${probe.path}`,
          probe.method,
          { authorization: `Bearer ${w.clientKey}` },
          probe.body === undefined ? undefined : {},
          undefined,
          probe.stream ? 1 : undefined,
        );
    const route = `${probe.method} ${probe.path}`;
    tallies.push({ route, sent: variants.length, refused, notRefused, withCredentials: label(control) });
  }
  const open: OpenRoute[] = [];
  for (const path of OPEN)
    open.push({ route: `GET ${path}`, status: label(await send(w.agent, `${w.url}${path}`, 'GET', {})) });
  const probed = [
    ...PROBES.map((p) => ({ method: p.method, path: p.path })),
    ...OPEN.map((path) => ({ method: 'GET', path })),
  ];
  const unprobed = (await routesInSource())
    .filter((r) => !probed.some((p) => (r.method === 'ALL' || r.method === p.method) && r.re.test(p.path)))
    .map((r) => r.route);
  return {
    variants: variants.map((v) => v.name),
    tallies,
    notRefused: tallies.reduce((sum, t) => sum + t.notRefused.length, 0),
    open,
    unprobed,
  };
}
