import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KvCacheMap, MIN_PREFIX_CHARS, promptKeys } from '../src/slots/kv-cache-map.ts';

const system = { role: 'system', content: 'You are terse. '.repeat(30) };
const turn1 = { messages: [system, { role: 'user', content: 'first question' }] };
const turn2 = {
  messages: [...turn1.messages, { role: 'assistant', content: 'first answer' }, { role: 'user', content: 'second' }],
};

describe('the KV cache map (issue 19)', () => {
  test('keys a chat at every message boundary past the minimum, longest first; a session key before them', () => {
    const keys = promptKeys(turn2, undefined).keys;
    assert.equal(keys.length, 4, 'system, +user, +assistant, +user');
    assert.ok(
      keys.every((k, i) => i === 0 || (keys[i - 1]?.chars ?? 0) > k.chars),
      'longest first',
    );
    // The next turn's keys begin with this turn's: turn 1's whole prompt is a prefix of turn 2's.
    const first = promptKeys(turn1, undefined).keys[0];
    assert.ok(keys.some((k) => k.key === first?.key));
    assert.equal(promptKeys(turn1, 'abc').keys[0]?.key, 'session:abc');
    assert.deepEqual(promptKeys({ messages: [{ role: 'user', content: 'hi' }] }, undefined).keys, [], 'too short');
    const plain = promptKeys({ prompt: 'x'.repeat(3000) }, undefined);
    assert.deepEqual(
      plain.keys.map((k) => k.chars),
      [3000, 2048, 1024],
    );
    assert.ok(MIN_PREFIX_CHARS > 0);
  });

  test("finds the longest cached prefix on a live engine, forgets a restarted engine's, and moves a displaced prompt to its replica's RAM cache", () => {
    const map = new KvCacheMap();
    const pids = new Map([
      ['r0', 100],
      ['r1', 200],
    ]);
    const pidOf = (replica: string): number | undefined => pids.get(replica);
    assert.equal(map.lookup('chat', promptKeys(turn2, undefined), pidOf), null, 'nothing cached yet');
    map.record('chat', promptKeys(turn1, undefined), { replicaId: 'r1', pid: 200, slot: 1 }, 400);
    const found = map.lookup('chat', promptKeys(turn2, undefined), pidOf);
    assert.equal(found?.spot.replicaId, 'r1');
    assert.equal(found?.spot.slot, 1);
    assert.equal(found?.spot.tokens, 400, "turn 1's whole prompt");

    // Another prompt takes that slot: turn 1's prompt is still on r1 (its RAM prompt cache), in no slot.
    const other = { messages: [{ role: 'system', content: 'Another assistant entirely. '.repeat(20) }] };
    map.record('chat', promptKeys(other, undefined), { replicaId: 'r1', pid: 200, slot: 1 }, 300);
    assert.equal(map.lookup('chat', promptKeys(turn2, undefined), pidOf)?.spot.slot, null);
    assert.equal(map.lookup('chat', promptKeys(other, undefined), pidOf)?.spot.slot, 1);

    // r1 restarted: its caches are gone.
    pids.set('r1', 201);
    assert.equal(map.lookup('chat', promptKeys(turn2, undefined), pidOf), null);

    // A session's key is taken (its session was deleted) once.
    map.record('chat', promptKeys(turn1, 's1'), { replicaId: 'r0', pid: 100, slot: 0 }, 400);
    assert.equal(map.take('chat', 'session:s1')?.slot, 0);
    assert.equal(map.take('chat', 'session:s1'), null);
  });

  test('measures the prefill cost per token from the engine timings, ignoring prompts too short to tell', () => {
    const map = new KvCacheMap();
    assert.equal(map.prefillMsPerToken('chat'), null);
    map.observePrefill('chat', 5, 4);
    assert.equal(map.prefillMsPerToken('chat'), null);
    map.observePrefill('chat', 200, 1000);
    assert.equal(map.prefillMsPerToken('chat'), 0.2);
    map.observeHold('chat', 100);
    assert.equal(map.holdMs('chat'), 100);
  });
});
