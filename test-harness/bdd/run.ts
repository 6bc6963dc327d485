/**
 * `npm run test:bdd [-- <feature path>… --tags <expr> …]`: cucumber over the distributed features, one scenario at a
 * time, within a time budget; extra arguments go to cucumber (a bare `<name>.feature` is looked up in
 * test-harness/features/distributed). Without `--tags`, scenarios tagged `@wip` (known product bugs, each explained
 * in a comment above it) are left out and listed as skipped. It lists every scenario with its outcome and time (a skipped one with its
 * reason) and ends with the line `N passed, N failed`; it exits non-zero when a scenario failed, cucumber failed, or
 * the budget ran out.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, stopProcess } from '../src/processes.ts';
import { scenarioResults } from './scenario-results.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CUCUMBER = join(ROOT, 'node_modules', '@cucumber', 'cucumber', 'bin', 'cucumber.js');
const FEATURES = 'test-harness/features/distributed';
/** The whole suite's budget (issue 13: under 25 minutes on 2 cores with a warm build cache); LLORCH_BDD_BUDGET_S overrides. */
const BUDGET_S = Number(process.env['LLORCH_BDD_BUDGET_S'] ?? 25 * 60);

/** Where a feature argument is: as given, or inside the distributed features. */
function featurePath(arg: string): string {
  const [file = ''] = arg.split(':');
  return existsSync(join(ROOT, file)) || !existsSync(join(ROOT, FEATURES, file)) ? arg : `${FEATURES}/${arg}`;
}

/** How much of a failure's first line the summary shows (cucumber's own report above has all of it). */
const DETAIL_CHARS = 400;
const FLAGS_WITH_VALUE = new Set(['--tags', '-t', '--name', '--profile', '-p', '--format', '-f', '--retry']);

async function main(args: readonly string[]): Promise<number> {
  const passed: string[] = [];
  let paths = 0;
  let tags = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (FLAGS_WITH_VALUE.has(arg)) {
      if (arg === '--tags' || arg === '-t') tags = true;
      passed.push(arg, args[i + 1] ?? '');
      i += 1;
    } else if (arg.startsWith('-')) passed.push(arg);
    else {
      passed.push(featurePath(arg));
      paths += 1;
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'llorch-bdd-run-'));
  const messages = join(dir, 'messages.ndjson');
  try {
    const cucumber = startProcess(
      process.execPath,
      [
        CUCUMBER,
        '--import',
        `${FEATURES}/support/**/*.ts`,
        '--import',
        `${FEATURES}/steps/**/*.ts`,
        '--format',
        'progress',
        '--format',
        `message:${messages}`,
        ...(tags ? [] : ['--tags', 'not @wip']),
        ...(paths === 0 ? [`${FEATURES}/**/*.feature`] : []),
        ...passed,
      ],
      { ...process.env, FORCE_COLOR: process.env['FORCE_COLOR'] ?? '0' },
      ROOT,
    );
    cucumber.child.stdout?.pipe(process.stdout);
    cucumber.child.stderr?.pipe(process.stderr);
    let outOfTime = false;
    const timer = setTimeout(() => {
      outOfTime = true;
      process.stderr.write(`\n# the suite ran past its budget of ${BUDGET_S} s: stopping cucumber\n`);
      void stopProcess(cucumber, 60_000);
    }, BUDGET_S * 1000);
    const code = await cucumber.exited;
    clearTimeout(timer);
    const results = scenarioResults(await readFile(messages, 'utf8').catch(() => ''), !tags);
    const mark = { passed: 'passed ', failed: 'FAILED ', skipped: 'skipped' } as const;
    const short = (text: string): string => (text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}…` : text);
    process.stdout.write('\nScenarios:\n');
    for (const r of results)
      process.stdout.write(
        `  ${mark[r.outcome]} ${r.where} ${r.name} (${(r.ms / 1000).toFixed(1)} s)${r.detail === '' ? '' : `: ${short(r.detail)}`}\n`,
      );
    const count = (o: string): number => results.filter((r) => r.outcome === o).length;
    // A scenario cut off by the budget never finished: it counts as failed.
    const failed = count('failed') + (outOfTime ? 1 : 0);
    if (count('skipped') > 0) process.stdout.write(`${count('skipped')} skipped (not passed)\n`);
    if (outOfTime) process.stdout.write(`out of time after ${BUDGET_S} s: the running scenario counts as failed\n`);
    else if (code !== 0 && count('failed') === 0) process.stdout.write(`cucumber exited with code ${code}\n`);
    process.stdout.write(`${count('passed')} passed, ${failed} failed\n`);
    return failed > 0 || code !== 0 || outOfTime ? 1 : 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
