import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import type { Handoff } from '@llama-orch/contracts';
import { pino } from 'pino';
import { HandoffWatcher, MAX_HANDOFF_BYTES, type HandoffOutcome } from '../src/watcher/handoff-watcher.ts';
import { handoff } from './handoff-fixture.ts';
import { until } from './until.ts';

const SECRET = 'hunter2-do-not-log';
/** Every test waits within this, start() included (a blocking read would hang it). */
const bounded = { timeout: 10_000 };

interface Watched {
  dir: string;
  /** A directory beside the watched one, for symlink targets "elsewhere". */
  outside: string;
  watcher: HandoffWatcher;
  live: Map<string, Handoff>;
  outcomes: HandoffOutcome[];
  /** Every log line, raw, as pino wrote it. */
  logText: () => string;
  /** Every 'ignoring handoff file' line: the file's name and the reason. */
  refusals: () => { file: string; reason: string }[];
}

/** Temp dirs (removed in `t.after`), the files `prepare` writes before the watcher starts, and a watcher over them. */
async function watched(
  t: TestContext,
  prepare: (dir: string, outside: string) => Promise<void> = () => Promise.resolve(),
): Promise<Watched> {
  const root = await mkdtemp(join(tmpdir(), 'pm-hostile-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'engines');
  const outside = join(root, 'elsewhere');
  await mkdir(dir);
  await mkdir(outside);
  await prepare(dir, outside);
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const live = new Map<string, Handoff>();
  const outcomes: HandoffOutcome[] = [];
  const watcher = new HandoffWatcher(
    dir,
    // Rescans run when a test calls rescan(), so counts across rescans are exact.
    60_000,
    {
      upsert: (h) => live.set(`${h.pool_id}/${h.replica_id}`, h),
      remove: (pool, replica) => live.delete(`${pool}/${replica}`),
      processed: (outcome) => outcomes.push(outcome),
    },
    pino({}, destination),
  );
  await watcher.start();
  t.after(() => watcher.stop());
  const refusals = (): { file: string; reason: string }[] =>
    lines
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { msg: string; file: string; reason: string })
      .filter((line) => line.msg === 'ignoring handoff file')
      .map(({ file, reason }) => ({ file: file.slice(dir.length + 1), reason }));
  return { dir, outside, watcher, live, outcomes, logText: () => lines.join(''), refusals };
}

const count = (outcomes: HandoffOutcome[], outcome: HandoffOutcome): number =>
  outcomes.filter((o) => o === outcome).length;

const refusalOf = (w: Watched, file: string): Promise<string> =>
  until(`the refusal of ${file}`, () => w.refusals().find((r) => r.file === file)?.reason);

describe('the handoff watcher, given hostile files', () => {
  test('a FIFO present at start neither blocks start() nor hides the good handoff beside it', bounded, async (t) => {
    const w = await watched(t, async (dir) => {
      execFileSync('mkfifo', [join(dir, 'stuck.json')]);
      await writeFile(join(dir, 'chat-r0.json'), JSON.stringify(handoff()));
    });
    await until('the good handoff', () => (w.live.has('chat/r0') ? true : undefined));
    assert.match(await refusalOf(w, 'stuck.json'), /^a FIFO \(handoffs are read only as regular files\)$/);
    await w.watcher.rescan();
    assert.deepEqual([...w.live.keys()], ['chat/r0']);
  });

  test(
    'a symlink to a good handoff elsewhere is refused with its reason, so its slots are not counted',
    bounded,
    async (t) => {
      const w = await watched(t, async (dir, outside) => {
        await writeFile(join(outside, 'chat-r0.json'), JSON.stringify(handoff()));
        await symlink(join(outside, 'chat-r0.json'), join(dir, 'chat-r0.json'));
      });
      assert.equal(await refusalOf(w, 'chat-r0.json'), 'a symbolic link (handoffs are read only as regular files)');
      await w.watcher.rescan();
      assert.equal(w.live.size, 0);
      assert.deepEqual(w.outcomes, ['invalid']);
    },
  );

  test(
    'neither a symlink to a secret file nor a secret non-JSON file puts any of its text in the log',
    bounded,
    async (t) => {
      const w = await watched(t, async (dir, outside) => {
        await writeFile(join(outside, 'passwd'), `${SECRET}:x:0:0:root:/root:/bin/bash\n`);
        await symlink(join(outside, 'passwd'), join(dir, 'passwd.json'));
        await writeFile(join(dir, 'token.json'), `${SECRET} and more of the token`);
      });
      assert.match(await refusalOf(w, 'passwd.json'), /^a symbolic link/);
      assert.equal(await refusalOf(w, 'token.json'), 'not JSON');
      assert.ok(!w.logText().includes('hunter2'), 'the log holds none of the files’ bytes');
    },
  );

  test(
    'an oversized file is refused by its size and never read, even when it holds a valid handoff',
    bounded,
    async (t) => {
      const w = await watched(t, async (dir) => {
        await writeFile(join(dir, 'chat-r0.json'), JSON.stringify(handoff()).padEnd(1024 * 1024 + 1, ' '));
      });
      assert.equal(
        await refusalOf(w, 'chat-r0.json'),
        `${1024 * 1024 + 1} bytes, over the ${MAX_HANDOFF_BYTES}-byte cap for a handoff file`,
      );
      assert.equal(w.live.size, 0);
    },
  );

  test('an unchanged file is examined once, not on every rescan, and again once it changes', bounded, async (t) => {
    const w = await watched(t, async (dir) => {
      await writeFile(join(dir, 'big.json'), Buffer.alloc(2 * 1024 * 1024, 'x'));
      await writeFile(join(dir, 'bad.json'), '{ not json');
    });
    await until('both refusals', () => (count(w.outcomes, 'invalid') === 2 ? true : undefined));
    for (let i = 0; i < 5; i += 1) await w.watcher.rescan();
    assert.equal(count(w.outcomes, 'invalid'), 2);
    assert.equal(w.refusals().length, 2, 'each refusal is logged once, not once per rescan');

    // Replaced atomically, as engine-provisioner writes, so the one change is seen whole.
    await writeFile(join(w.dir, '.big.tmp'), Buffer.alloc(3 * 1024 * 1024, 'y'));
    await rename(join(w.dir, '.big.tmp'), join(w.dir, 'big.json'));
    await w.watcher.rescan();
    await until('the changed file refused again', () => (count(w.outcomes, 'invalid') === 3 ? true : undefined));
    for (let i = 0; i < 3; i += 1) await w.watcher.rescan();
    assert.equal(count(w.outcomes, 'invalid'), 3);
    assert.match(w.refusals().at(-1)?.reason ?? '', /^3145728 bytes, over the 65536-byte cap/);
  });

  test('a good handoff still works, and a symlink put in its place removes its replica', bounded, async (t) => {
    const w = await watched(t);
    await writeFile(join(w.dir, 'chat-r0.json'), JSON.stringify(handoff()));
    await until('the upsert', () => (w.live.has('chat/r0') ? true : undefined));

    await writeFile(join(w.outside, 'chat-r0.json'), JSON.stringify(handoff({ url: 'http://127.0.0.1:40001' })));
    await symlink(join(w.outside, 'chat-r0.json'), join(w.dir, '.swap'));
    await rename(join(w.dir, '.swap'), join(w.dir, 'chat-r0.json'));
    await w.watcher.rescan();
    await until('the removal', () => (w.live.size === 0 ? true : undefined));
    assert.match(await refusalOf(w, 'chat-r0.json'), /^a symbolic link/);
    assert.deepEqual(w.outcomes, ['accepted', 'invalid']);
  });
});
