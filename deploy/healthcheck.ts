/**
 * The images' HEALTHCHECK: `node deploy/healthcheck.ts orchestratord|pool-managerd` asks the daemon in this container
 * for `/ready` on loopback and exits 0 when it answers 200. orchestratord: plain HTTP, or HTTPS with
 * ORCHD_SERVER_TLS_CERT. pool-managerd: HTTPS with its own certificate as the client certificate when
 * POOL_MANAGERD_TLS_CA asks for one (the certificate must allow client use: `llorch certs issue --usage both`).
 * The daemon is reached on 127.0.0.1, so the certificate's names are not checked; the CA still is.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';

const TIMEOUT_MS = 2500;

const portOf = (bind: string | undefined, fallback: number): number => {
  const port = Number(bind?.slice(bind.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : fallback;
};

function probe(secure: boolean, options: RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const send = secure ? httpsRequest : httpRequest;
    const req = send({ host: '127.0.0.1', path: '/ready', timeout: TIMEOUT_MS, ...options }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function target(daemon: string | undefined, env: NodeJS.ProcessEnv): { secure: boolean; options: RequestOptions } {
  const read = (file: string | undefined): Buffer | undefined => (file ? readFileSync(file) : undefined);
  if (daemon === 'orchestratord') {
    const secure = Boolean(env['ORCHD_SERVER_TLS_CERT']);
    return {
      secure,
      options: { port: portOf(env['ORCHD_BIND_ADDR'], 8080), ...(secure ? { rejectUnauthorized: false } : {}) },
    };
  }
  if (daemon === 'pool-managerd') {
    const secure = Boolean(env['POOL_MANAGERD_TLS_CERT']);
    const ca = read(env['POOL_MANAGERD_TLS_CA']);
    return {
      secure,
      options: {
        port: portOf(env['POOL_MANAGERD_BIND_ADDR'], 9200),
        ...(secure
          ? {
              cert: read(env['POOL_MANAGERD_TLS_CERT']),
              key: read(env['POOL_MANAGERD_TLS_KEY']),
              ...(ca ? { ca } : { rejectUnauthorized: false }),
              checkServerIdentity: () => undefined,
            }
          : {}),
      },
    };
  }
  throw new Error('usage: node deploy/healthcheck.ts orchestratord|pool-managerd');
}

try {
  // eslint-disable-next-line no-restricted-syntax -- a one-shot probe reads its daemon's variables directly
  const { secure, options } = target(process.argv[2], process.env);
  const status = await probe(secure, options);
  if (status !== 200) process.stderr.write(`healthcheck: /ready answered ${status}\n`);
  process.exitCode = status === 200 ? 0 : 1;
} catch (error) {
  process.stderr.write(`healthcheck: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
