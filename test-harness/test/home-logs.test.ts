import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_LOG_ROTATION, RotatingFile } from '@llama-orch/provisioning';

describe('the HOME tree’s log files', () => {
  test('rotate by size: the current file and its numbered predecessors, the oldest dropped, no line torn', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-logs-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'logs', 'engine-demo-r0.log');
    const log = new RotatingFile(file, { maxBytes: 100, keep: 2 });
    const lines = Array.from({ length: 20 }, (_, i) => `line ${String(i).padStart(2, '0')} of the engine log\n`);
    for (const line of lines) log.write(line);
    log.close();
    log.write('after close\n');

    assert.deepEqual((await readdir(join(dir, 'logs'))).sort(), [
      'engine-demo-r0.log',
      'engine-demo-r0.log.1',
      'engine-demo-r0.log.2',
    ]);
    const read = (name: string) => readFile(join(dir, 'logs', name), 'utf8');
    const [current, newer, older] = await Promise.all([
      read('engine-demo-r0.log'),
      read('engine-demo-r0.log.1'),
      read('engine-demo-r0.log.2'),
    ]);
    for (const text of [current, newer, older]) assert.ok(Buffer.byteLength(text) <= 100, text);
    assert.equal(older + newer + current, lines.slice(-8).join(''), 'the newest lines, in order, whole');

    // 26-byte lines, 3 to a file: the current one holds the last 2, each predecessor 3.
    // Reopened (a restarted engine), it appends to the current file and rotates by its whole size.
    const again = new RotatingFile(file, { maxBytes: 100, keep: 2 });
    again.write('line 20 of the engine log\n');
    assert.equal(await read('engine-demo-r0.log'), `${current}line 20 of the engine log\n`);
    again.write('line 21 of the engine log\n');
    again.close();
    assert.equal(await read('engine-demo-r0.log.1'), `${current}line 20 of the engine log\n`);
    assert.equal(await read('engine-demo-r0.log.2'), newer);
    assert.equal(await read('engine-demo-r0.log'), 'line 21 of the engine log\n');
    assert.deepEqual(DEFAULT_LOG_ROTATION, { maxBytes: 10 * 1024 * 1024, keep: 2 });
  });
});
