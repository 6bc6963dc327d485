/**
 * Check 4: pool-managerd's TLS port must refuse a client without a valid certificate from its CA (none, another
 * CA's, expired, server-only, plain HTTP) before any HTTP answer; orchestratord's client certificate is the control.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { PemPair } from '@llama-orch/tls';
import type { HandshakeOutcome, SecurityResult } from './types.ts';
import type { World } from './world.ts';

const HANDSHAKE_MS = 10_000;

/** Connect (TLS with `pair`, or plain TCP when `plain`), send GET /health, and say whether an HTTP answer came. */
function handshake(
  url: URL,
  caPem: string,
  pair: PemPair | null,
  plain = false,
): Promise<{ outcome: HandshakeOutcome; detail: string }> {
  return new Promise((resolve) => {
    let text = '';
    let settled = false;
    const port = Number(url.port);
    const socket = plain
      ? netConnect({ host: url.hostname, port })
      : tlsConnect({
          host: url.hostname,
          port,
          ca: caPem,
          ...(pair === null ? {} : { cert: pair.cert, key: pair.key }),
        });
    const done = (outcome: HandshakeOutcome, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, detail });
    };
    const timer = setTimeout(() => done('silent', `nothing within ${HANDSHAKE_MS} ms`), HANDSHAKE_MS);
    const ask = (): void => void socket.write(`GET /health HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
    socket.once(plain ? 'connect' : 'secureConnect', ask);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n')) done(text.startsWith('HTTP/') ? 'answered' : 'refused', text.split('\r\n')[0] ?? '');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => done('refused', error.code ?? error.message));
    socket.once('close', () => done(text.startsWith('HTTP/') ? 'answered' : 'refused', 'closed, no HTTP answer'));
  });
}

export async function probePoolManagerd(w: World): Promise<SecurityResult['mtls']> {
  const url = new URL(w.pm.url);
  const probes = [];
  for (const [client, pair, plain] of [
    ['no client certificate', null, false],
    ["a client certificate from another CA of the cluster CA's name", w.probeCerts.foreign, false],
    ['an expired client certificate from the cluster CA', w.probeCerts.expired, false],
    ['a server-only certificate from the cluster CA', w.probeCerts.serverOnly, false],
    ['plain HTTP to the TLS port', null, true],
  ] as const)
    probes.push({ client, ...(await handshake(url, w.caPem, pair, plain)) });
  const accepted = probes.filter((p) => p.outcome === 'answered').length;
  return { probes, accepted, control: await handshake(url, w.caPem, w.clusterClient) };
}
