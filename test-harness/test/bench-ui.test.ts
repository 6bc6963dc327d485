import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { startProcess, stopProcess } from '../src/processes.ts';

const UI = fileURLToPath(new URL('../bench/ui.ts', import.meta.url));

// Proves the page's benchmark still works; benchmarks are not tests, so no figure is compared with a target here.
describe('the operator page benchmark', { timeout: 10 * 60_000 }, () => {
  test("bench:ui --quick measures the page's load and its lag under load, and writes its report", async (t) => {
    const out = await mkdtemp(join(tmpdir(), 'llorch-bench-ui-'));
    t.after(() => rm(out, { recursive: true, force: true }));
    const run = startProcess(
      process.execPath,
      [UI, '--quick', '--loads', '2', '--seconds', '4', '--out', out],
      process.env,
    );
    t.after(() => stopProcess(run));
    assert.equal(await run.exited, 0, run.output().slice(-3000));
    const results = JSON.parse(await readFile(join(out, 'ui.json'), 'utf8')) as { figures: Record<string, unknown> };
    const expected = [
      'load.median_ms',
      'load.p90_ms',
      'load.revisit_median_ms',
      'load.first_after_start_ms',
      'lag.p50_ms',
      'lag.p99_ms',
      'lag.max_ms',
      'load.tasks_per_minute',
      'load.pictures_per_second',
      'page.long_tasks',
      'page.long_task_ms_total',
    ];
    assert.deepEqual(Object.keys(results.figures).sort(), expected.sort());
    for (const [key, value] of Object.entries(results.figures))
      assert.ok(typeof value === 'number' && Number.isFinite(value), `${key}: ${String(value)}`);
    assert.ok((results.figures['load.pictures_per_second'] as number) > 0, 'the page received pictures');
    assert.match(await readFile(join(out, 'UI.md'), 'utf8'), /# The operator page/);
  });
});
