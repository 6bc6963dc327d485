import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isLoopbackHost as isLoopback } from '@llama-orch/config';
import { loadConfig, parseEnv } from '../src/config.ts';

const host = { hostname: 'Box.Example', homeDir: '/home/ada' };

describe('pool-managerd configuration', () => {
  test('defaults to plain HTTP on 127.0.0.1:9200 in the HOME profile', () => {
    const parsed = parseEnv({});
    assert.ok(parsed.ok);
    assert.equal(parsed.config.host, '127.0.0.1');
    assert.equal(parsed.config.port, 9200);
    assert.equal(parsed.config.profile, 'home');
    assert.equal(parsed.config.tls, null);
    assert.equal(parsed.config.watchIntervalMs, 1000);
    assert.equal(parsed.config.hfEndpoint, 'https://huggingface.co');
    assert.ok(Object.isFrozen(parsed.config));
  });

  test('serves mutual TLS anywhere once certificate, key and CA are set', () => {
    const parsed = parseEnv({
      POOL_MANAGERD_BIND_ADDR: '0.0.0.0:9443',
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_TLS_CERT: '/tls/node.crt',
      POOL_MANAGERD_TLS_KEY: '/tls/node.key',
      POOL_MANAGERD_TLS_CA: '/tls/ca.crt',
    });
    assert.ok(parsed.ok);
    assert.equal(parsed.config.profile, 'cloud');
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
      [{ HF_ENDPOINT: 'ftp://mirror' }, /^HF_ENDPOINT: /],
    ];
    for (const [env, message] of refusals) {
      const parsed = parseEnv(env);
      assert.equal(parsed.ok, false, JSON.stringify(env));
      if (!parsed.ok) assert.match(parsed.message, message);
    }
  });

  test('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      assert.equal(isLoopback(host), true, host);
    for (const host of ['0.0.0.0', '10.0.0.1', 'node-a', '::']) assert.equal(isLoopback(host), false, host);
  });

  test('without a pool config it only watches, with its node id from the host name and its runtime dir under home', async () => {
    const loaded = await loadConfig({ HF_ENDPOINT: 'https://mirror.example/hf' }, host);
    assert.ok(loaded.ok);
    assert.equal(loaded.config.nodeId, 'box-example');
    assert.equal(loaded.config.runtimeDir, '/home/ada/.local/state/llama-orch');
    assert.equal(loaded.config.handoffDir, '/home/ada/.local/state/llama-orch/engines');
    assert.equal(loaded.config.inProcess, null);
    assert.equal(loaded.config.hfEndpoint, 'https://mirror.example/hf');
    assert.ok(Object.isFrozen(loaded.config));
  });

  test('takes node id, runtime and cache dir from the pool config file, and the environment over the file', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pm-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'node.yaml');
    await writeFile(
      file,
      'node_id: gpu-a\nruntime_dir: ./state\ncache_dir: ./cache\npools:\n  - { id: chat, model: "file:./m.gguf", ctx: 2048, slots: 2 }\n',
    );
    const fromFile = await loadConfig({ LLORCH_CONFIG: file }, host);
    assert.ok(fromFile.ok);
    assert.equal(fromFile.config.nodeId, 'gpu-a');
    assert.equal(fromFile.config.handoffDir, join(dir, 'state', 'engines'));
    assert.equal(fromFile.config.inProcess?.cacheDir, join(dir, 'cache'));
    assert.deepEqual(
      fromFile.config.inProcess?.pools.map((p) => [p.id, p.model]),
      [['chat', `file:${join(dir, 'm.gguf')}`]],
    );

    const overridden = await loadConfig(
      {
        LLORCH_CONFIG: file,
        POOL_MANAGERD_NODE_ID: 'gpu-b',
        POOL_MANAGERD_RUNTIME_DIR: join(dir, 'run'),
        ENGINE_PROVISIONER_CACHE_DIR: join(dir, 'c2'),
      },
      host,
    );
    assert.ok(overridden.ok);
    assert.deepEqual(
      [overridden.config.nodeId, overridden.config.runtimeDir, overridden.config.inProcess?.cacheDir],
      ['gpu-b', join(dir, 'run'), join(dir, 'c2')],
    );
  });

  test('a missing or invalid pool config file is refused naming LLORCH_CONFIG, the file and the key', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pm-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const missing = await loadConfig({ LLORCH_CONFIG: join(dir, 'absent.yaml') }, host);
    assert.equal(missing.ok, false);
    if (!missing.ok) assert.match(missing.message, /^LLORCH_CONFIG: .*absent\.yaml: file not found/);
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'pools:\n  - { id: chat, model: "file:./m.gguf", ctx: 2048, slots: 0 }\n');
    const invalid = await loadConfig({ LLORCH_CONFIG: bad }, host);
    assert.equal(invalid.ok, false);
    if (!invalid.ok) assert.match(invalid.message, /^LLORCH_CONFIG: .*bad\.yaml: pools\[0\]\.slots \(line 2\)/);
    const env = await loadConfig({ LLORCH_CONFIG: bad, POOL_MANAGERD_PROFILE: 'cloud' }, host);
    assert.equal(env.ok, false);
    if (!env.ok) assert.match(env.message, /^POOL_MANAGERD_PROFILE=cloud/, 'the environment is checked first');
  });
});
