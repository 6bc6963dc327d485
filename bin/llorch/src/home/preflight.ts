import { createServer } from 'node:net';
import { isLoopbackHost, splitBind } from '@llama-orch/config';
import type { LlorchEnv } from '../config.ts';

/** What orchestratord's address exposes, and whether `llorch home` may go on. */
export type Exposure =
  | { readonly kind: 'loopback' }
  | { readonly kind: 'lan'; readonly notice: string }
  | { readonly kind: 'refused'; readonly message: string };

const EXPOSED =
  'the OpenAI API (/v1) and native tasks (/v2/tasks), sessions, pool status, and pool drain and reload (an admin action)';

/**
 * The HOME profile listens on loopback. Another address (0.0.0.0, a LAN address) serves everyone who can reach it,
 * so it needs client credentials (ORCHD_API_KEYS, ORCHD_API_KEYS_FILE or ORCHD_OIDC_ISSUER), or `--insecure-lan`,
 * which serves it without any and says what that exposes.
 */
export function lanExposure(env: LlorchEnv, insecureLan: boolean): Exposure {
  const bind = splitBind(env.orchdBind);
  if (bind === null || isLoopbackHost(bind.host)) return { kind: 'loopback' };
  const where = env.orchdBind;
  if (env.orchdAuth)
    return {
      kind: 'lan',
      notice: `orchestratord listens on ${where} beyond this machine: every request needs a key (ORCHD_API_KEYS); pool-managerd stays on ${env.poolManagerdBind}.`,
    };
  if (insecureLan)
    return {
      kind: 'lan',
      notice: [
        `WARNING (--insecure-lan): orchestratord listens on ${where} with NO authentication.`,
        `  Anyone who can reach this address can use ${EXPOSED},`,
        '  and run generations on your hardware. Set ORCHD_API_KEYS to require a key instead.',
      ].join('\n'),
    };
  return {
    kind: 'refused',
    message: [
      `ORCHD_BIND_ADDR=${where} would serve ${EXPOSED} to your network with no key.`,
      `Set ORCHD_API_KEYS=<key>[,<key>…] (clients send Authorization: Bearer <key>; llorch reads LLORCH_API_KEY),`,
      `or pass --insecure-lan to serve it without authentication anyway; or bind 127.0.0.1.`,
    ].join('\n'),
  };
}

/** Whether something can listen on host:port now: null if so, else the error code (EADDRINUSE, EACCES, …). */
async function listenProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/**
 * Both daemons' addresses, checked before anything is provisioned (a model can take minutes to load): one line per
 * address that cannot be listened on, naming its variable. Port 0 (any free port) is never taken.
 */
export async function unavailableAddresses(env: LlorchEnv): Promise<string[]> {
  const problems: string[] = [];
  for (const [variable, bind] of [
    ['ORCHD_BIND_ADDR', env.orchdBind],
    ['POOL_MANAGERD_BIND_ADDR', env.poolManagerdBind],
  ] as const) {
    const address = splitBind(bind);
    if (address === null || address.port === 0) continue;
    const problem = await listenProblem(address.host, address.port);
    if (problem === 'EADDRINUSE') problems.push(`${bind} (${variable}) is in use by another program`);
    else if (problem !== null) problems.push(`${bind} (${variable}) cannot be listened on: ${problem}`);
  }
  return problems;
}
