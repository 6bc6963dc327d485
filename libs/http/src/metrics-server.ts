import type { Logger } from 'pino';
import { createEdgeApp } from './edge-app.ts';
import { hostsFor } from './guards.ts';
import { serveHttp, type HttpServer } from './serve.ts';

/** What serving metrics needs of a prom-client Registry. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * PROMETHEUS_METRICS_PORT: `GET /metrics` alone on its own port of the bind host, plain HTTP (the series hold no
 * secret), so a NetworkPolicy can open just this port to the monitoring namespace. Every other path is a 404; the
 * browser guard of the API applies (on loopback, only loopback Host names).
 */
export async function serveMetrics(
  daemon: string,
  registry: MetricsSource,
  log: Logger,
  host: string,
  port: number,
): Promise<HttpServer> {
  const app = createEdgeApp({
    daemon,
    log,
    guard: { allowedHosts: hostsFor(host), allowedOrigins: new Set() },
    maxBodyBytes: 1024,
  });
  app.get('/metrics', async (c) => {
    c.header('Content-Type', registry.contentType);
    return c.body(await registry.metrics());
  });
  try {
    return await serveHttp(app.fetch, { host, port, tls: null });
  } catch (error) {
    throw new Error(`PROMETHEUS_METRICS_PORT: cannot serve /metrics on ${host}:${port}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
