import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { peerOf, transportRefusal, type Peer } from '../src/index.ts';

/** What @hono/node-server hands a route as `c.env`: the Node request, whose socket is the connection. */
const plainEnv = (remoteAddress: string | undefined) => ({ incoming: { socket: { remoteAddress } } });

describe('callers that prove themselves by transport', () => {
  test('over plain HTTP only loopback callers are taken, IPv4-mapped and IPv6 loopback included', () => {
    for (const address of ['127.0.0.1', '127.3.2.1', '::ffff:127.0.0.1', '::1']) {
      const peer = peerOf(plainEnv(address));
      assert.equal(peer.tls, null);
      assert.equal(transportRefusal(peer), null, address);
    }
    for (const address of ['10.0.0.7', '::ffff:192.168.1.5', 'fd00::1']) {
      assert.match(
        transportRefusal(peerOf(plainEnv(address))) ?? '',
        /^over plain HTTP only loopback callers are accepted, not /,
        address,
      );
    }
    assert.match(transportRefusal(peerOf({})) ?? '', /not unknown$/, 'no socket: not taken');
  });

  test('over TLS only a client certificate the CA verified is taken, whatever the address', () => {
    const tls = (authorized: boolean, reason: string | null): Peer => ({
      address: '127.0.0.1',
      loopback: true,
      tls: { authorized, reason, subject: authorized ? 'node-0' : null, serialNumber: null },
    });
    assert.equal(transportRefusal(tls(true, null)), null);
    assert.match(
      transportRefusal(tls(false, 'no client certificate presented')) ?? '',
      /a client certificate from the cluster CA is required \(no client certificate presented\)/,
      'loopback over TLS is not enough',
    );
    assert.match(transportRefusal(tls(false, 'INVALID_PURPOSE')) ?? '', /INVALID_PURPOSE/);
  });
});
