/**
 * `npm run test:bdd [-- <feature path>… --tags <expr> …]`: cucumber over the distributed features, one scenario at a
 * time, within a time budget; extra arguments go to cucumber (a bare `<name>.feature` is looked up in
 * test-harness/features/distributed). Without `--tags`, scenarios tagged `@wip` (known product bugs, each explained
 * in a comment above it) are left out and listed as skipped. It lists every scenario with its outcome and time (a skipped one with its
 * reason) and ends with the line `N passed, N failed`; it exits non-zero when a scenario failed, cucumber failed, or
 * the budget ran out.
 *
 * `--profile compose` runs the scenarios tagged `@cloud` (not `@wip`) against the compose stack instead of netns
 * clusters: the one at LLORCH_BDD_COMPOSE_URL, or one it brings up with `deploy/cloud.sh up` (LLORCH_CLOUD_PROJECT and
 * LLORCH_CLOUD_PORT choose which) and takes down at the end. The World learns it from LLORCH_BDD_TARGET=compose.
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

/** Run `deploy/cloud.sh up|down` with this process's environment, its output on stderr; fails when it does. */
async function cloud(action: 'up' | 'down'): Promise<void> {
  const run = startProcess('bash', ['deploy/cloud.sh', action], process.env, ROOT);
  run.child.stdout?.pipe(process.stderr);
  run.child.stderr?.pipe(process.stderr);
  const code = await run.exited;
  if (code !== 0) throw new Error(`deploy/cloud.sh ${action} exited with code ${code}`);
}

/** The compose stack the run targets: its url, and whether this run brought it up (and so takes it down). */
async function composeStack(): Promise<{ url: string; ours: boolean }> {
  const given = process.env['LLORCH_BDD_COMPOSE_URL'];
  if (given !== undefined && given !== '') return { url: given, ours: false };
  const port = process.env['LLORCH_CLOUD_PORT'] ?? '8080';
  process.stderr.write(`# --profile compose: bringing the stack up (deploy/cloud.sh up, port ${port})\n`);
  try {
    await cloud('up');
  } catch (error) {
    await cloud('down').catch(() => undefined);
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, ours: true };
}

async function main(args: readonly string[]): Promise<number> {
  const passed: string[] = [];
  let paths = 0;
  let tags = false;
  let compose = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if ((arg === '--profile' || arg === '-p') && args[i + 1] === 'compose') {
      compose = true;
      i += 1;
    } else if (FLAGS_WITH_VALUE.has(arg)) {
      if (arg === '--tags' || arg === '-t') tags = true;
      passed.push(arg, args[i + 1] ?? '');
      i += 1;
    } else if (arg.startsWith('-')) passed.push(arg);
    else {
      passed.push(featurePath(arg));
      paths += 1;
    }
  }
  const stack = compose ? await composeStack() : null;
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
        ...(compose ? ['--tags', '@cloud'] : []),
        ...(tags ? [] : ['--tags', 'not @wip']),
        ...(paths === 0 ? [`${FEATURES}/**/*.feature`] : []),
        ...passed,
      ],
      {
        ...process.env,
        FORCE_COLOR: process.env['FORCE_COLOR'] ?? '0',
        ...(stack === null ? {} : { LLORCH_BDD_TARGET: 'compose', LLORCH_BDD_COMPOSE_URL: stack.url }),
      },
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
    // Under compose, a @wip scenario that is not @cloud would not have run anyway: it is not listed.
    const results = scenarioResults(await readFile(messages, 'utf8').catch(() => ''), !tags && !compose);
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
    if (stack?.ours === true) await cloud('down');
  }
}

process.exitCode = await main(process.argv.slice(2));
