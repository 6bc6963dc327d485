import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';
import {
  checkTraceability,
  RequirementEntrySchema,
  specIdsIn,
  taggedScenariosIn,
  testNamesIn,
  type ProofKind,
} from '../src/traceability.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function repoInput(): Parameters<typeof checkTraceability>[0] {
  const specIds = readdirSync(join(ROOT, '.specs'))
    .filter((f) => f.endsWith('.md'))
    .flatMap((f) => specIdsIn(readFileSync(join(ROOT, '.specs', f), 'utf8')));
  const entries = readdirSync(join(ROOT, 'requirements'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => z.array(RequirementEntrySchema).parse(parse(readFileSync(join(ROOT, 'requirements', f), 'utf8'))));
  const readTestFile = (file: string): string | undefined => {
    const path = join(ROOT, file);
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  };
  const features = readdirSync(join(ROOT, 'test-harness', 'features'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.feature'))
    .sort()
    .map((f) => {
      const file = join('test-harness', 'features', f);
      return { file, text: readFileSync(join(ROOT, file), 'utf8') };
    });
  return { specIds, entries, readTestFile, features };
}

describe('requirement traceability', () => {
  const report = checkTraceability(repoInput());

  test('maps every requirement ID in .specs to tests that exist', () => {
    assert.ok(repoInput().specIds.length >= 15, 'the spec defines its requirement IDs');
    assert.deepEqual(report.problems, []);
  });

  test('every requirement ID a scenario is tagged with is defined in .specs; the report says how each ID is proven', (t) => {
    const input = repoInput();
    const tagged = (input.features ?? []).flatMap((f) => taggedScenariosIn(f.text)).filter((s) => s.ids.length > 0);
    assert.ok(tagged.length > 0, 'the distributed features tag their scenarios with requirement IDs');
    assert.deepEqual(
      report.problems.filter((p) => p.includes(' tags the scenario ')),
      [],
    );
    const byKind = new Map<ProofKind, string[]>();
    for (const [id, kind] of report.proofs) byKind.set(kind, [...(byKind.get(kind) ?? []), id]);
    t.diagnostic(
      `${tagged.length} tagged scenarios in ${input.features?.length ?? 0} feature files, ${tagged.filter((s) => s.wip).length} of them @wip (no proof)`,
    );
    for (const kind of ['both', 'scenario', 'test', 'none'] as const) {
      const ids = byKind.get(kind) ?? [];
      const label = {
        both: 'a scenario and a node:test',
        scenario: 'a scenario only',
        test: 'a node:test only',
        none: 'nothing yet',
      }[kind];
      t.diagnostic(`proven by ${label}: ${ids.length}${ids.length > 0 ? ` (${ids.join(', ')})` : ''}`);
    }
  });

  for (const entry of report.pending) {
    test(`${entry.id} is still to be proven by issue ${entry.issue ?? '?'}`, { todo: true });
  }

  test('fails when an ID maps to no test, to a missing file or to a name the file does not declare', () => {
    const files: Record<string, string> = {
      'a.test.ts': "test('does a thing', () => {});\ntest(`${kind} accepts each valid example`, () => {});",
    };
    const report = checkTraceability({
      specIds: ['ORCH-0001', 'ORCH-0002', 'ORCH-0003', 'ORCH-0004', 'ORCH-0005', 'POOL-0006'],
      entries: [
        { id: 'ORCH-0001', tests: [{ file: 'a.test.ts', name: 'does a thing' }] },
        { id: 'ORCH-0002', tests: [] },
        { id: 'ORCH-0003', tests: [{ file: 'missing.test.ts', name: 'x' }] },
        { id: 'ORCH-0004', tests: [{ file: 'a.test.ts', name: 'does another thing' }] },
        { id: 'ORCH-0005', tests: [{ file: 'a.test.ts', name: 'TaskRequest accepts each valid example' }] },
        { id: 'SEC-0009', status: 'pending', tests: [] },
      ],
      readTestFile: (file) => files[file],
    });
    assert.deepEqual(report.problems, [
      'ORCH-0002 maps to no test',
      'ORCH-0003 maps to missing.test.ts, which does not exist',
      'ORCH-0004 maps to "does another thing", which a.test.ts does not declare',
      'SEC-0009 is mapped in requirements/ but not defined in .specs',
      'SEC-0009 is pending without an issue number',
      'POOL-0006 is defined in .specs but mapped to no test in requirements/',
    ]);
  });

  test('reads test names from plain strings and template literals', () => {
    const names = testNamesIn(
      'describe(\'every shape\', () => { test(`${id} is fine`, f); it("says \\"hi\\"", g); });',
    );
    assert.equal(names.length, 3);
    assert.ok(names[0]?.test('every shape'));
    assert.ok(names[1]?.test('Handoff is fine') && !names[1].test(' is fine'));
    assert.ok(names[2]?.test('says "hi"'));
  });

  test('reads the requirement tags of scenarios, inherited from Feature and Rule, and flags IDs .specs lacks', () => {
    const feature = [
      '@ORCH-0001 @cloud',
      'Feature: f',
      '  # @SEC-0004 in a comment is no tag',
      '  @ORCH-0002',
      '  Scenario: one',
      '    Given x',
      '  @POOL-0003',
      '  Rule: r',
      '    @ORCH-9999 @ORCH-00011',
      '    Scenario Outline: two',
      '      Examples:',
      '        | a |',
      '    @wip @SEC-0004',
      '    Scenario: a known bug',
    ].join('\n');
    assert.deepEqual(taggedScenariosIn(feature), [
      { name: 'one', line: 5, ids: ['ORCH-0001', 'ORCH-0002'], wip: false },
      { name: 'two', line: 10, ids: ['ORCH-0001', 'POOL-0003', 'ORCH-9999'], wip: false },
      { name: 'a known bug', line: 14, ids: ['ORCH-0001', 'POOL-0003', 'SEC-0004'], wip: true },
    ]);
    const report = checkTraceability({
      specIds: ['ORCH-0001', 'ORCH-0002', 'POOL-0003', 'SEC-0004'],
      entries: [
        { id: 'ORCH-0001', tests: [{ file: 'a.test.ts', name: 'x' }] },
        { id: 'ORCH-0002', tests: [], status: 'pending', issue: 13 },
        { id: 'POOL-0003', tests: [], status: 'pending', issue: 13 },
        { id: 'SEC-0004', tests: [{ file: 'a.test.ts', name: 'x' }] },
      ],
      readTestFile: () => "test('x', () => {});",
      features: [{ file: 'f.feature', text: feature }],
    });
    assert.deepEqual(report.problems, [
      'ORCH-9999 tags the scenario "two" (f.feature:10) but is not defined in .specs',
    ]);
    assert.deepEqual(Object.fromEntries(report.proofs), {
      'ORCH-0001': 'both',
      'ORCH-0002': 'scenario',
      'POOL-0003': 'scenario',
      'SEC-0004': 'test', // its only scenario is @wip: a known bug proves nothing
    });
  });
});
