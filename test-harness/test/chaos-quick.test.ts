import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { testEngine } from '../src/engine-fixture.ts';
import { netnsUnavailable } from '../src/netns/index.ts';
import { startProcess, stopProcess } from '../src/processes.ts';

const RUN = fileURLToPath(new URL('../chaos/run.ts', import.meta.url));

// The short chaos run: its invariants (exactly one terminal event per task, nothing after it, no engine past its
// slots, every fault healed, 202 or 429 with Retry-After under overload, no 5xx and every 4xx an envelope for hostile
// input) make it exit 1 when one breaks; the figures themselves are not compared with targets here.
describe('the chaos suite', { timeout: 15 * 60_000 }, () => {
  test('chaos --quick keeps every invariant through faults on loopback and across nodes, overload, hostile input and security', async (t) => {
    await testEngine();
    const out = await mkdtemp(join(tmpdir(), 'llorch-chaos-quick-'));
    t.after(() => rm(out, { recursive: true, force: true }));
    const run = startProcess(process.execPath, [RUN, '--quick', '--out', out], process.env);
    t.after(() => stopProcess(run));
    const code = await run.exited;
    const report = await readFile(join(out, 'RESULTS.md'), 'utf8').catch(() => '(no RESULTS.md)');
    assert.equal(code, 0, `${run.output().slice(-3000)}\n${report}`);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as Record<string, unknown>;
    for (const section of ['faults', 'overload', 'hostile', 'security'])
      assert.notEqual(results[section], null, section);
    // The distributed faults need network namespaces (root): where they exist, the run must have made them.
    if ((await netnsUnavailable()) === null) assert.notEqual(results['netFaults'], null, 'netFaults');
    else assert.equal(typeof results['netFaultsSkipped'], 'string');
    assert.match(report, /## Invariants\n\nAll held\./);
  });
});
