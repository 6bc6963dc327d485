import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { testEngine } from '../src/engine-fixture.ts';
import { startProcess, stopProcess } from '../src/processes.ts';

const RUN = fileURLToPath(new URL('../bench/run.ts', import.meta.url));

// Proves the suite still works; benchmarks are not tests, so no figure is compared with a target here.
describe('the benchmark suite', { timeout: 15 * 60_000 }, () => {
  test('bench --quick produces every figure as a finite number', async (t) => {
    await testEngine();
    const out = await mkdtemp(join(tmpdir(), 'llorch-bench-quick-'));
    t.after(() => rm(out, { recursive: true, force: true }));
    const run = startProcess(process.execPath, [RUN, '--quick', '--out', out], process.env);
    t.after(() => stopProcess(run));
    assert.equal(await run.exited, 0, run.output().slice(-3000));
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as {
      figures: Record<string, unknown>;
    };
    const figures = Object.entries(results.figures);
    const expected = [
      'stack.1.ratio',
      'stack.4.ratio',
      'stack.16.ratio',
      'stack.64.ratio',
      'stack.1.added_first_token_p50_ms',
      'stack.16.added_first_token_p99_ms',
      'relay.16.ratio',
      'admission.tasks_per_second',
      'admission.post_p99_ms',
      'admission.idle_rss_mb',
      'admission.full_rss_mb',
      'admission.cpu_us_per_task',
      'stack.1.cpu_us_per_token.orchestratord',
      'stack.1.cpu_us_per_token.pool-managerd',
      'floor.pipe_us_per_event',
      'floor.relay_us_per_event',
      'startup.npm_start_ms',
      'startup.orchestratord_ms',
    ];
    assert.deepEqual(
      expected.filter((key) => !(key in results.figures)),
      [],
    );
    assert.deepEqual(
      figures.filter(([, value]) => typeof value !== 'number' || !Number.isFinite(value)),
      [],
    );
    assert.match(await readFile(join(out, 'RESULTS.md'), 'utf8'), /## What each change bought/);
  });
});
