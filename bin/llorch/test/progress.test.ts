import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { humanBytes } from '../src/commands/models/model-cache.ts';
import { humanDuration, ProgressLine, renderProgress } from '../src/commands/models/progress-bar.ts';
import { Output } from '../src/commands/output.ts';

const MiB = 1024 * 1024;

/** A stream that says it is (or is not) a terminal, keeping what is written. */
function stream(isTTY: boolean): { output: Output; written: () => string } {
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (c: Buffer) => (text += c.toString()));
  return { output: new Output(Object.assign(sink, { isTTY }) as unknown as NodeJS.WriteStream), written: () => text };
}

describe('llorch pull progress', () => {
  test('shows a bar, the percentage, bytes done and in all, the rate and the time left', () => {
    assert.equal(
      renderProgress({ bytes: 2.5 * MiB, total: 5 * MiB, bytesPerSecond: MiB, etaSeconds: 2.5 }),
      '[############············]  50%  2.5 MiB / 5.0 MiB  1.0 MiB/s  ETA 3s',
    );
    assert.equal(
      renderProgress({ bytes: 4.2 * 1024 ** 3, total: 4.4 * 1024 ** 3, bytesPerSecond: 30 * MiB, etaSeconds: 3725 }),
      '[#######################·]  95%  4.2 GiB / 4.4 GiB  30.0 MiB/s  ETA 1h02m',
    );
    assert.equal(
      renderProgress({ bytes: 700, total: null, bytesPerSecond: 350, etaSeconds: null }),
      '700 B  350 B/s',
      'without a size: what arrived and the rate',
    );
    assert.equal(humanDuration(65), '1m05s');
    assert.equal(humanBytes(1536), '1.5 KiB');
  });

  test('redraws one line on a terminal, and writes whole lines (the last one too) elsewhere', () => {
    const tty = stream(true);
    const line = new ProgressLine(tty.output);
    line.update({ bytes: MiB, total: 4 * MiB, bytesPerSecond: MiB, etaSeconds: 3 });
    line.update({ bytes: 4 * MiB, total: 4 * MiB, bytesPerSecond: MiB, etaSeconds: 0 });
    line.end();
    assert.equal(
      tty.written(),
      '\r[######··················]  25%  1.0 MiB / 4.0 MiB  1.0 MiB/s  ETA 3s\x1b[K' +
        '\r[########################] 100%  4.0 MiB / 4.0 MiB  1.0 MiB/s  ETA 0s\x1b[K\n',
    );

    const pipe = stream(false);
    const plain = new ProgressLine(pipe.output);
    plain.update({ bytes: MiB, total: 4 * MiB, bytesPerSecond: MiB, etaSeconds: 3 });
    plain.update({ bytes: 2 * MiB, total: 4 * MiB, bytesPerSecond: MiB, etaSeconds: 2 });
    plain.update({ bytes: 4 * MiB, total: 4 * MiB, bytesPerSecond: MiB, etaSeconds: 0 });
    plain.end();
    assert.deepEqual(pipe.written().split('\n'), [
      '[######··················]  25%  1.0 MiB / 4.0 MiB  1.0 MiB/s  ETA 3s',
      '[########################] 100%  4.0 MiB / 4.0 MiB  1.0 MiB/s  ETA 0s',
      '',
    ]);
  });
});
