import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { matchesKey, presentedKey } from '../src/http/auth.ts';
import { SessionStore } from '../src/tasks/sessions.ts';
import { Task } from '../src/tasks/task.ts';

const spec = {
  id: 't',
  model: 'demo',
  priority: 'interactive' as const,
  sessionId: undefined,
  deadlineMs: undefined,
  placement: undefined,
  engine: { endpoint: '/completion' as const, body: {} },
};

describe('orchestratord units', () => {
  test('a task records exactly one terminal event and nothing after it', () => {
    const task = new Task(spec);
    const seen: string[] = [];
    task.subscribe((e) => seen.push(e.event));
    assert.ok(task.emit({ event: 'started', data: { queue_position: 0, predicted_start_ms: 0 } }));
    assert.ok(task.emit({ event: 'token', data: { t: 'a', i: 0 } }));
    assert.ok(task.emit({ event: 'end', data: { tokens_out: 1, decode_ms: 1, finish_reason: 'canceled' } }));
    assert.equal(task.emit({ event: 'token', data: { t: 'b', i: 1 } }), false);
    assert.equal(task.emit({ event: 'error', data: { code: 'INTERNAL', message: 'late', retriable: false } }), false);
    assert.deepEqual(seen, ['started', 'token', 'end']);
    const late: string[] = [];
    task.subscribe((e) => late.push(e.event));
    assert.deepEqual(late, ['started', 'token', 'end'], 'a late subscriber gets the replay');
  });

  test('sessions expire after their TTL, count turns and remember their pool', () => {
    let now = 0;
    const sessions = new SessionStore(() => now);
    sessions.touch('s');
    const admitted = sessions.admit('s', undefined, 16);
    assert.equal(admitted.kind, 'admitted');
    sessions.recordTurn('s', 'alpha', true);
    assert.deepEqual(sessions.info('s'), {
      session_id: 's',
      ttl_ms_remaining: 600_000,
      turns: 1,
      max_turns: 8,
      kv_warmth: true,
      kv_bytes: null,
      kv_tokens: null,
      pool_id: 'alpha',
      tokens_used: 16,
      tokens_budget_remaining: null,
      time_used_ms: 0,
      time_budget_remaining_ms: null,
    });
    assert.equal(sessions.affinity('s'), 'alpha');
    now = 600_001;
    assert.equal(sessions.info('s'), null);
    assert.equal(sessions.delete('s'), false);
  });

  test('accepts a configured API key from either header, compared in constant time', () => {
    assert.equal(presentedKey('Bearer abc', undefined), 'abc');
    assert.equal(presentedKey(undefined, 'xyz'), 'xyz');
    assert.equal(presentedKey('Basic abc', ''), null);
    assert.ok(matchesKey('k2', ['k1', 'k2']));
    assert.ok(!matchesKey('k3', ['k1', 'k2']));
  });

  test('parses its environment once and names every bad variable', () => {
    const home = parseConfig({});
    assert.ok(home.ok);
    assert.deepEqual(
      [
        home.config.host,
        home.config.port,
        home.config.poolManagers,
        home.config.admissionPolicy,
        home.config.pollIntervalMs,
      ],
      ['127.0.0.1', 8080, ['http://127.0.0.1:9200'], 'reject', 1000],
    );
    const cloud = parseConfig({
      ORCHD_PROFILE: 'cloud',
      ORCHD_TLS_CERT: '/c',
      ORCHD_TLS_KEY: '/k',
      ORCHD_TLS_CA: '/a',
      ORCHD_API_KEYS: 'sk-0123456789abcdef',
    });
    assert.ok(cloud.ok);
    assert.equal(cloud.config.host, '0.0.0.0');
    const refusals: [NodeJS.ProcessEnv, RegExp][] = [
      [{ ORCHD_ADMISSION_POLICY: 'lifo' }, /^ORCHD_ADMISSION_POLICY: /],
      [{ ORCHD_ADMISSION_CAPACITY: '-1' }, /^ORCHD_ADMISSION_CAPACITY: /],
      [{ ORCHD_POOL_MANAGERS: 'ftp://x' }, /^ORCHD_POOL_MANAGERS\[0\]: each entry must be an http\(s\) URL/],
      [{ ORCHD_POOL_POLL_INTERVAL_MS: 'fast' }, /^ORCHD_POOL_POLL_INTERVAL_MS: /],
      [{ ORCHD_API_KEYS: 'short' }, /^ORCHD_API_KEYS\[0\]: each API key needs at least 16 characters/],
      [{ ORCHD_BIND_ADDR: 'localhost' }, /^ORCHD_BIND_ADDR: must be host:port/],
      [{ ORCHD_TLS_CERT: '/c' }, /^ORCHD_TLS_CERT and ORCHD_TLS_KEY: set both or neither/],
    ];
    for (const [env, message] of refusals) {
      const parsed = parseConfig(env);
      assert.equal(parsed.ok, false, JSON.stringify(env));
      if (!parsed.ok) assert.match(parsed.message, message);
    }
  });
});
