import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isLoopback, parseConfig } from '../src/config.ts';

describe('pool-managerd configuration', () => {
  test('defaults to plain HTTP on 127.0.0.1:9200 in the HOME profile', () => {
    const parsed = parseConfig({});
    assert.ok(parsed.ok);
    assert.equal(parsed.config.host, '127.0.0.1');
    assert.equal(parsed.config.port, 9200);
    assert.equal(parsed.config.profile, 'home');
    assert.equal(parsed.config.tls, null);
    assert.equal(parsed.config.watchIntervalMs, 1000);
    assert.ok(Object.isFrozen(parsed.config));
  });

  test('serves mutual TLS anywhere once certificate, key and CA are set', () => {
    const parsed = parseConfig({
      POOL_MANAGERD_BIND_ADDR: '0.0.0.0:9443',
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_TLS_CERT: '/tls/node.crt',
      POOL_MANAGERD_TLS_KEY: '/tls/node.key',
      POOL_MANAGERD_TLS_CA: '/tls/ca.crt',
    });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.config.tls, { certFile: '/tls/node.crt', keyFile: '/tls/node.key', caFile: '/tls/ca.crt' });
  });

  test('names the variable of every refusal', () => {
    const refusals: [NodeJS.ProcessEnv, RegExp][] = [
      [{ POOL_MANAGERD_BIND_ADDR: 'nine-two-hundred' }, /^POOL_MANAGERD_BIND_ADDR: must be host:port/],
      [{ POOL_MANAGERD_BIND_ADDR: '127.0.0.1:99999' }, /^POOL_MANAGERD_BIND_ADDR: port must be at most 65535/],
      [{ POOL_MANAGERD_BIND_ADDR: '192.168.1.4:9200' }, /^POOL_MANAGERD_BIND_ADDR: plain HTTP only on loopback/],
      [{ POOL_MANAGERD_TLS_CERT: '/a' }, /^POOL_MANAGERD_TLS_CERT and POOL_MANAGERD_TLS_KEY: set both or neither/],
      [{ POOL_MANAGERD_TLS_CA: '/ca' }, /^POOL_MANAGERD_TLS_CA: needs POOL_MANAGERD_TLS_CERT/],
      [
        { POOL_MANAGERD_PROFILE: 'cloud' },
        /requires mutual TLS: set POOL_MANAGERD_TLS_CERT, POOL_MANAGERD_TLS_KEY, POOL_MANAGERD_TLS_CA/,
      ],
      [{ POOL_MANAGERD_PROFILE: 'prod' }, /^POOL_MANAGERD_PROFILE: /],
      [{ POOL_MANAGERD_HEALTH_INTERVAL_MS: '10' }, /^POOL_MANAGERD_HEALTH_INTERVAL_MS: /],
      [{ POOL_MANAGERD_NODE_ID: 'Node A' }, /^POOL_MANAGERD_NODE_ID: /],
    ];
    for (const [env, message] of refusals) {
      const parsed = parseConfig(env);
      assert.equal(parsed.ok, false, JSON.stringify(env));
      if (!parsed.ok) assert.match(parsed.message, message);
    }
  });

  test('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      assert.equal(isLoopback(host), true, host);
    for (const host of ['0.0.0.0', '10.0.0.1', 'node-a', '::']) assert.equal(isLoopback(host), false, host);
  });
});
