/**
 * A daemon's HTTPS server stops within its grace period even while a client holds a connection that never speaks
 * (a port probe, a stalled TLS handshake): the HTTP layer does not see such a socket, so without the server cutting
 * it, close() waited for TLS's own 120 s handshake timeout.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { serveHttp } from '@llama-orch/http';
import { createCa, issueCertificate } from '@llama-orch/tls';

const GRACE_MS = 300;
/** Far below TLS's 120 s handshake timeout, far above the grace period plus a loaded machine's slack. */
const STOP_BUDGET_MS = 10_000;

describe('serveHttp close()', () => {
  test('cuts a connection that never completes a TLS handshake once the grace period is over', async () => {
    const ca = await createCa();
    const pair = await issueCertificate(ca, { commonName: 'stop-test', usage: 'server' });
    const server = await serveHttp(() => new Response('ok'), {
      host: '127.0.0.1',
      port: 0,
      tls: {
        source: { material: { cert: pair.cert, key: pair.key, ca: ca.cert }, onChange: () => () => undefined },
        clientCertificates: 'require',
      },
    });
    const silent = connect(server.address.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => silent.once('connect', resolve).once('error', reject));
    const closedBySever = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    const started = Date.now();
    await Promise.race([
      server.close(GRACE_MS),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`close() still waiting after ${STOP_BUDGET_MS} ms`)), STOP_BUDGET_MS),
      ),
    ]);
    await closedBySever;
    assert.ok(Date.now() - started >= GRACE_MS - 50, 'the silent connection had its grace period first');
    silent.destroy();
  });
});
