import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Handoff } from '@llama-orch/contracts';
import { pino } from 'pino';
import { HandoffWatcher, type HandoffOutcome } from '../src/watcher/handoff-watcher.ts';
import { handoff } from './handoff-fixture.ts';
import { until } from './until.ts';

describe('the handoff watcher', () => {
  test('turns a valid file into an upsert, a bad one into nothing, and an unlink into a removal', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pm-watch-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const live = new Map<string, Handoff>();
    const outcomes: HandoffOutcome[] = [];
    const watcher = new HandoffWatcher(
      dir,
      50,
      {
        upsert: (h) => live.set(`${h.pool_id}/${h.replica_id}`, h),
        remove: (pool, replica) => live.delete(`${pool}/${replica}`),
        processed: (outcome) => outcomes.push(outcome),
      },
      pino({ level: 'silent' }),
    );
    await watcher.start();
    t.after(() => watcher.stop());

    await writeFile(join(dir, 'chat-r0.json'), JSON.stringify(handoff()));
    await until('the upsert', () => (live.has('chat/r0') ? true : undefined));
    await writeFile(join(dir, 'code-r0.json'), '{ not json');
    await writeFile(join(dir, 'misnamed.json'), JSON.stringify(handoff({ pool_id: 'other' })));
    await until('two invalid files', () => (outcomes.filter((o) => o === 'invalid').length === 2 ? true : undefined));
    assert.deepEqual([...live.keys()], ['chat/r0']);

    await unlink(join(dir, 'chat-r0.json'));
    await until('the removal', () => (live.size === 0 ? true : undefined));
    assert.deepEqual(
      outcomes.filter((o) => o !== 'invalid'),
      ['accepted', 'removed'],
    );
  });

  test('keeps reconciling after the sink throws', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pm-watch-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const seen: string[] = [];
    const watcher = new HandoffWatcher(
      dir,
      50,
      {
        upsert: (h) => {
          seen.push(h.pool_id);
          if (h.pool_id === 'boom') throw new Error('sink failed');
        },
        remove: () => undefined,
        processed: () => undefined,
      },
      pino({ level: 'silent' }),
    );
    await watcher.start();
    t.after(() => watcher.stop());
    await writeFile(join(dir, 'boom-r0.json'), JSON.stringify(handoff({ pool_id: 'boom' })));
    await until('the failing upsert', () => (seen.includes('boom') ? true : undefined));
    await writeFile(join(dir, 'chat-r0.json'), JSON.stringify(handoff()));
    await until('the next upsert', () => (seen.includes('chat') ? true : undefined));
  });
});
