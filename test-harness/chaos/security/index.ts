/**
 * Security (issue 16), against a CLOUD cluster this section starts and stops itself: orchestratord with API keys,
 * OIDC (the harness's real issuer) and HTTPS for clients; pool-managerd with mutual TLS and a demo pool on the real
 * engine. Four checks, each within a time budget:
 *
 * 1. every route of orchestratord's routes/*.ts is sent requests without valid credentials (none, wrong keys, the
 *    right key in a query string or as Basic, forged, expired and unsigned JWTs): every answer must be 401 or 403
 *    (routes.ts);
 * 2. the key comparison: a wrong key that shares nothing with the real one, one that misses only its last character,
 *    and keys one character short or long, alternated over one keep-alive connection, must take the same time
 *    (key-timing.ts);
 * 3. neither daemon's output (nor /metrics) may hold a key, a bearer token, a JWT or private-key material
 *    (secrets.ts);
 * 4. pool-managerd's TLS port must refuse a client without a valid certificate from its CA before any HTTP answer
 *    (mtls.ts).
 *
 * This file runs them in order (measureSecurity) and is the section's public API.
 */
import { measureKeyTiming } from './key-timing.ts';
import { probePoolManagerd } from './mtls.ts';
import { probeRoutes } from './routes.ts';
import { scanLogs, streamChat, streamTask } from './secrets.ts';
import type { SecurityResult } from './types.ts';
import { REQUEST_MS, SESSION, TASK, send, startWorld } from './world.ts';

export { renderSecurity, securityViolations } from './report.ts';
export type {
  HandshakeOutcome,
  OpenRoute,
  RouteTally,
  SecurityResult,
  TimingComparison,
  TimingGroup,
} from './types.ts';

export async function measureSecurity(options: { quick: boolean }): Promise<SecurityResult> {
  const started = Date.now();
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (let stop = stops.pop(); stop !== undefined; stop = stops.pop()) await stop().catch(() => undefined);
  };
  try {
    const w = await startWorld(stops);
    const bearer = { authorization: `Bearer ${w.clientKey}` };
    const streams = [await streamTask(w, TASK, bearer, { session_id: SESSION })];
    const routes = await probeRoutes(w);
    const timing = await measureKeyTiming(w, options.quick ? 2_000 : 20_000, options.quick ? 120_000 : 480_000);
    const token = await w.issuer.sign({ subject: 'sec-oidc-user' });
    streams.push(
      await streamTask(w, 'sec-task-2', bearer),
      await streamTask(w, 'sec-task-3', { 'x-api-key': w.clientKey }),
      await streamTask(w, 'sec-task-oidc', { authorization: `Bearer ${token}` }),
      await streamChat(w, bearer),
    );
    const mtls = await probePoolManagerd(w);
    const metrics = await send(w.agent, `${w.url}/metrics`, 'GET', {}, undefined, REQUEST_MS, 4 << 20);
    await stopAll(); // the daemons' whole output, their shutdown included
    const sources = {
      orchestratord: w.orchestrator.proc.output(),
      'pool-managerd': w.pm.proc.output(),
      '/metrics': metrics.body,
    };
    return {
      quick: options.quick,
      routes,
      timing,
      logs: {
        streamed: streams.length,
        streamedWhole: streams.filter(Boolean).length,
        scannedBytes: Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, Buffer.byteLength(v)])),
        patterns: scanLogs(w, sources),
      },
      mtls,
      wallMs: Date.now() - started,
    };
  } finally {
    await stopAll();
  }
}
