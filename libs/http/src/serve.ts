import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';

export interface HttpServer {
  readonly address: AddressInfo;
  /** `http://host:port` or `https://…` as bound (the port is the real one, also when 0 was asked). */
  readonly url: string;
  /**
   * Stop accepting, let open requests and streams finish for up to `graceMs`, then cut what is left.
   * Idempotent.
   */
  close(graceMs: number): Promise<void>;
}

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  /** HTTPS (and mutual TLS when it asks for client certificates); null: plain HTTP. */
  readonly tls: ServerOptions | null;
}

/** Serve a fetch handler (a hono app's `fetch`) over HTTP or HTTPS; resolves once it listens. */
export async function serveHttp(
  fetch: (request: Request) => Response | Promise<Response>,
  options: ServeOptions,
): Promise<HttpServer> {
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve(
      {
        fetch,
        hostname: options.host,
        port: options.port,
        ...(options.tls === null ? {} : { createServer: createHttpsServer, serverOptions: options.tls }),
      },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const connections = server as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
  let closing: Promise<void> | null = null;
  return {
    address,
    url: `${options.tls === null ? 'http' : 'https'}://${host}:${address.port}`,
    close(graceMs) {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => connections.closeAllConnections?.(), graceMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        connections.closeIdleConnections?.();
      });
      return closing;
    },
  };
}
