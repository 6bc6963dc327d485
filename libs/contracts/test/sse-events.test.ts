import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseTaskEvent, terminalEvents } from '../src/index.ts';

describe('task events', () => {
  test('parse an SSE frame into a typed event', () => {
    const parsed = parseTaskEvent('token', '{"t":"Hi","i":0}');
    assert.deepEqual(parsed, { ok: true, value: { event: 'token', data: { t: 'Hi', i: 0 } } });
  });

  test('reject a frame whose data is not JSON, naming data', () => {
    const parsed = parseTaskEvent('end', '{tokens_out');
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.message, /^data: /);
  });

  test('treat end and error, and only those, as terminal', () => {
    assert.deepEqual([...terminalEvents].sort(), ['end', 'error']);
  });
});
