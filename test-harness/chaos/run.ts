/**
 * The chaos suite of issue 16: faults under load, overload, hostile input. Writes RESULTS.md and results.json.
 *
 *   npm run chaos                   full run (1,000 tasks through the faults on loopback and 1,000 across network
 *                                   namespaces where they exist, 300 at once, 10,000 bodies per endpoint)
 *   npm run chaos -- --quick        the short run npm test makes (chaos-quick.test.ts)
 *   npm run chaos -- --out DIR      write RESULTS.md and results.json into DIR instead
 *   npm run chaos -- --only faults,net-faults,overload,hostile,security
 *   npm run chaos -- --seed N       the hostile generator's seed (default 16)
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machine } from '../bench/results.ts';
import { startCluster } from '../src/cluster.ts';
import { killStarted } from '../src/processes.ts';
import { writeFormatted } from '../src/write-formatted.ts';
import { measureFaults } from './faults.ts';
import { measureHostile } from './hostile.ts';
import { measureNetFaults, netFaultsUnavailable } from './net-faults.ts';
import { measureOverload } from './overload.ts';
import { renderChaos, violations } from './report.ts';
import { measureSecurity, renderSecurity } from './security/index.ts';
import type { ChaosResults } from './results.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    only: { type: 'string' },
    seed: { type: 'string', default: '16' },
  },
});
const quick = values.quick;
const outDir = values.out ?? fileURLToPath(new URL('.', import.meta.url));
const only = new Set((values.only ?? 'faults,net-faults,overload,hostile,security').split(','));
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const failures: string[] = [];

/** The most one section may take (quick, full): past it the section counts as failed and the run goes on. */
const SECTION_BUDGET_MS = quick ? 10 * 60_000 : 40 * 60_000;

async function section<T>(name: string, body: () => Promise<T>): Promise<T | null> {
  if (!only.has(name)) return null;
  const started = Date.now();
  log(`# ${name}`);
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      body(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`did not finish within ${SECTION_BUDGET_MS / 60_000} minutes`)),
          SECTION_BUDGET_MS,
        );
      }),
    ]);
    log(`  (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return result;
  } catch (error) {
    failures.push(`${name}: ${(error as Error).message}`);
    log(`  FAILED: ${(error as Error).stack ?? String(error)}`);
    return null;
  } finally {
    clearTimeout(timer);
  }
}

const faults = await section('faults', async () => {
  const result = await measureFaults(quick ? 90 : 1000, quick ? 9 : 12);
  log(
    `  ${result.admitted}/${result.submitted} admitted, ${result.exactlyOneTerminal} with exactly one terminal event, ` +
      `${result.afterTerminal} events after one; outcomes ${JSON.stringify(result.outcomes)}; ` +
      `requeued before the first token ${result.requeuedBeforeFirstToken}; most in flight ${JSON.stringify(result.maxInFlight)} ` +
      `of ${result.slotsPerPool} slots; heals ${result.faults.map((f) => `${f.fault}: ${f.healedMs ?? 'never'} ms`).join(', ')}`,
  );
  return result;
});
const netFaultsSkipped = only.has('net-faults') ? await netFaultsUnavailable() : null;
const netFaults =
  netFaultsSkipped !== null
    ? null
    : await section('net-faults', async () => {
        const result = await measureNetFaults(quick ? 400 : 1000, quick ? 9 : 12);
        log(
          `  ${result.admitted}/${result.submitted} admitted, ${result.exactlyOneTerminal} of ${result.admitted - result.cutByCrash} ` +
            `with exactly one terminal event, ${result.cutByCrash} cut by the crash (slowest ${result.slowestCutMs} ms), ` +
            `${result.refusedWhileDown} refused while down (slowest ${result.slowestRefusalMs} ms); outcomes ` +
            `${JSON.stringify(result.outcomes)}; most in flight ${JSON.stringify(result.maxInFlight)}, held at the end ` +
            `${JSON.stringify(result.heldAtEnd)}; adoption ${JSON.stringify(result.adoption)}; heals ` +
            result.faults.map((f) => `${f.fault}: ${f.downMs ?? 'never'} / ${f.healedMs ?? 'never'} ms`).join(', '),
        );
        return result;
      });
const overload = await section('overload', async () => {
  const result = await measureOverload(300, quick ? 2 : 3);
  log(
    `  ${JSON.stringify(result.statuses)}; ${result.refusedWithoutRetryAfter} 429s without Retry-After; ` +
      `${result.whole}/${result.admitted} admitted ended whole; RSS cold ${result.rssColdMb.toFixed(0)}, idle ` +
      `${result.rssIdleMb.toFixed(0)}, peak ${result.rssPeakMb.toFixed(0)}, after each burst ` +
      `${result.rssAfterMb.map((mb) => mb.toFixed(0)).join(' / ')} MB`,
  );
  return result;
});
const hostile = await section('hostile', async () => {
  // The demo model for each kind of pool, each answering as `demo` on its own routes; a context of 512 bounds what a
  // huge max_tokens can make the engine generate.
  const cluster = await startCluster([
    [
      { id: 'demo', slots: 2, ctx: 512 },
      { id: 'demo-embedding', slots: 1, ctx: 512, kind: 'embedding' },
      { id: 'demo-rerank', slots: 1, ctx: 512, kind: 'rerank' },
    ],
  ]);
  try {
    const result = await measureHostile(cluster.url, quick ? 150 : 10_000, Number(values.seed));
    for (const e of result.endpoints)
      log(`  ${e.endpoint}: ${JSON.stringify(e.byStatus)}; ≥500 ${e.serverErrors}, bad envelopes ${e.badEnvelopes}`);
    return result;
  } finally {
    await cluster.cleanup();
  }
});

const security = await section('security', async () => {
  const result = await measureSecurity({ quick });
  for (const line of renderSecurity(result).filter((l) => l.startsWith('|') && !l.startsWith('|-'))) log(`  ${line}`);
  return result;
});

const argv = process.argv.slice(2).join(' ');
const results: ChaosResults = {
  machine: machine(ROOT),
  command: `npm run chaos${argv === '' ? '' : ` -- ${argv}`}`,
  quick,
  date: new Date().toISOString(),
  faults,
  netFaults,
  netFaultsSkipped,
  overload,
  hostile,
  security,
  notes: failures.map((f) => `FAILED ${f}`),
};
await mkdir(outDir, { recursive: true });
await writeFormatted(join(outDir, 'RESULTS.md'), renderChaos(results));
await writeFormatted(join(outDir, 'results.json'), JSON.stringify(results, null, 2));
const broken = violations(results);
for (const v of broken) log(`VIOLATION ${v}`);
log(`wrote ${join(outDir, 'RESULTS.md')} and results.json`);
// Then exit: a section that ran out of time never came back to stop what it started, so that is killed here (by
// pid: what this run started), and the network namespaces go with the netns harness's exit guard.
process.exitCode = failures.length > 0 || broken.length > 0 ? 1 : 0;
killStarted();
setTimeout(() => process.exit(), 5_000).unref(); // only when a handle would keep the run alive
