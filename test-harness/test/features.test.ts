import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { testEngine } from '../src/engine-fixture.ts';
import { startProcess, stopProcess } from '../src/processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CUCUMBER = join(ROOT, 'node_modules', '@cucumber', 'cucumber', 'bin', 'cucumber.js');

describe('BDD features (cucumber)', { timeout: 45 * 60_000 }, () => {
  // The distributed suite (test-harness/features/distributed) runs under `npm run test:bdd`, not here.
  test('every scenario of the HOME feature passes', async (t) => {
    await testEngine();
    const run = startProcess(
      process.execPath,
      [
        CUCUMBER,
        '--import',
        'test-harness/features/steps/**/*.ts',
        '--format',
        'summary',
        'test-harness/features/home.feature',
      ],
      { ...process.env, FORCE_COLOR: '0' },
    );
    t.after(() => stopProcess(run));
    const code = await run.exited;
    assert.equal(code, 0, run.output());
    assert.match(run.output(), /1 scenario \(1 passed\)/);
    assert.match(run.output(), /12 steps \(12 passed\)/);
  });
});
