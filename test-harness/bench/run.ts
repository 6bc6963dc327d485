/**
 * The benchmark suite of issue 15: the engine called directly against the HOME stack, its relay and other
 * proxies, alternating rounds; admission; start-up. Writes RESULTS.md and results.json.
 *
 *   npm run bench                     full run (≈ 10–15 min on 2 cores), writes test-harness/bench/RESULTS.md
 *   npm run bench -- --quick          under 2 minutes
 *   npm run bench -- --out DIR        write RESULTS.md and results.json into DIR instead
 *   npm run bench -- --only admission,streams,startup,large,proxies,floor
 *   npm run bench -- --profile DIR    orchestratord of the stream and admission runs writes a .cpuprofile into DIR
 *   npm run bench -- --journal        orchestratord keeps its task journal (ORCHD_DATABASE_URL, SQLite), as under
 *                                     `llorch home`
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureAdmission } from './admission.ts';
import { measureFloor } from './floor.ts';
import { ensureLargeModel } from './large-model.ts';
import { startModelCluster, type ModelCluster } from './model-cluster.ts';
import { keptChangesSection, renderReport } from './report.ts';
import { figures, machine, type Results, type StreamGroup } from './results.ts';
import { runProxies } from './proxies.ts';
import { summarize } from './stats.ts';
import { repeat, timeNpmStart, timeOrchestratord } from './startup.ts';
import { closeClients } from './stream-client.ts';
import { compareAt, stackTargets, type StreamPlan } from './streams.ts';
import { writeFormatted } from '../src/write-formatted.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'string' },
    journal: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const outDir = values.out ?? fileURLToPath(new URL('.', import.meta.url));
const only = new Set((values.only ?? 'startup,streams,proxies,large,admission,floor').split(','));
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const plan: StreamPlan = { concurrency: [1, 4, 16, 64], rounds: quick ? 2 : 5, maxTokens: quick ? 32 : 128 };
const streams: StreamGroup[] = [];
const notes: string[] = [];
const failures: string[] = [];
let admission: Results['admission'] = null;
let floor: Results['floor'] = null;
let npmStartMs: Results['startup']['npmStartMs'] = null;
let orchestratordMs: Results['startup']['orchestratordMs'] = null;

async function section(name: string, body: () => Promise<void>): Promise<void> {
  if (!only.has(name)) return;
  const started = Date.now();
  log(`# ${name}`);
  try {
    await body();
  } catch (error) {
    failures.push(`${name}: ${(error as Error).message}`);
    log(`  FAILED: ${(error as Error).stack ?? String(error)}`);
  }
  log(`  (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

/** Under --journal, the SQLite files of the orchestratords this run starts (one each: a file is held alone). */
const journalDir = values.journal ? await mkdtemp(join(tmpdir(), 'llorch-bench-journal-')) : null;
let journals = 0;

/**
 * orchestratord's environment: under --profile it writes a .cpuprofile when it stops; under --journal it keeps a
 * task journal.
 */
const profileEnv = (): NodeJS.ProcessEnv => ({
  ...(values.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values.profile}` } : {}),
  ...(journalDir === null ? {} : { ORCHD_DATABASE_URL: `sqlite:${join(journalDir, `tasks-${(journals += 1)}.db`)}` }),
});

async function withCluster(model: string, body: (cluster: ModelCluster) => Promise<void>): Promise<void> {
  const cluster = await startModelCluster({ id: 'bench', model, ctx: 512, slots: 16 }, profileEnv());
  try {
    await body(cluster);
  } finally {
    await cluster.cleanup();
  }
}

try {
  await section('startup', async () => {
    npmStartMs = summarize(await repeat(quick ? 1 : 3, timeNpmStart));
    orchestratordMs = summarize(await repeat(quick ? 2 : 5, timeOrchestratord));
    log(`  npm start ${npmStartMs.median.toFixed(0)} ms, orchestratord ${orchestratordMs.median.toFixed(0)} ms`);
  });
  const streamSections = ['streams', 'proxies'].some((s) => only.has(s));
  if (streamSections) {
    await withCluster('demo', async (cluster) => {
      const t = await stackTargets(cluster, 'bench');
      await section('streams', async () => {
        const group = { baseline: t.direct.name, streamed: true, maxTokens: plan.maxTokens };
        const rows = await compareAt(t.direct, t.stack, plan, log, t.pids);
        streams.push({
          ...group,
          key: 'stack',
          title: 'HOME stack ÷ engine (demo model, pool of 16 slots)',
          candidate: t.stack.name,
          rows,
        });
        const relayRows = await compareAt(t.direct, t.relay, { ...plan, concurrency: [16] }, log, t.pids);
        streams.push({
          ...group,
          key: 'relay',
          title: 'pool-managerd relay alone ÷ engine (demo model)',
          candidate: t.relay.name,
          rows: relayRows,
        });
      });
      await section('proxies', async () => {
        const found = await runProxies(t.direct, t.engineUrl, { ...plan, concurrency: [1, 16] }, log);
        streams.push(...found.groups);
        notes.push(...found.notes);
      });
    });
  }
  if (quick) notes.push('The larger generated model runs only in the full run.');
  else
    await section('large', async () => {
      const path = await ensureLargeModel(log);
      await withCluster(`file:${path}`, async (cluster) => {
        const t = await stackTargets(cluster, 'bench');
        const large = { ...plan, concurrency: [1, 16], rounds: 3, maxTokens: 64 };
        const rows = await compareAt(t.direct, t.stack, large, log, t.pids);
        streams.push({
          key: 'stack-large',
          title: 'HOME stack ÷ engine (larger generated model: 512 wide, 8 layers; pool of 16 slots)',
          baseline: t.direct.name,
          candidate: t.stack.name,
          streamed: true,
          maxTokens: large.maxTokens,
          rows,
        });
      });
    });
  await section('admission', async () => {
    admission = await measureAdmission(
      quick
        ? { fill: 1000, probes: 300, rest: 700, deadlineMs: 40_000 }
        : { fill: 1000, probes: 1000, rest: 8000, deadlineMs: 300_000 },
      log,
      profileEnv(),
    );
  });
  await section('floor', async () => {
    floor = await measureFloor(quick ? 500 : 2000, quick ? 1 : 5);
    log(
      `  per event: TCP pipe ${floor.pipeUs.toFixed(0)} µs, undici → http relay ${floor.relayUs.toFixed(0)} µs ` +
        `(the source: ${floor.sourceUs.toFixed(0)} µs)`,
    );
  });
} finally {
  await closeClients();
  if (journalDir !== null) await rm(journalDir, { recursive: true, force: true });
}

const argv = process.argv.slice(2).join(' ');
const results: Results = {
  machine: machine(ROOT),
  command: `npm run bench${argv === '' ? '' : ` -- ${argv}`}`,
  quick,
  date: new Date().toISOString(),
  rounds: plan.rounds,
  streams,
  admission,
  floor,
  startup: { npmStartMs, orchestratordMs },
  notes: [...notes, ...failures.map((f) => `FAILED ${f}`)],
};
await mkdir(outDir, { recursive: true });
const previous = await readFile(join(outDir, 'RESULTS.md'), 'utf8').catch(() => '');
await writeFormatted(join(outDir, 'RESULTS.md'), renderReport(results, keptChangesSection(previous)));
await writeFile(
  join(outDir, 'results.json'),
  `${JSON.stringify({ ...results, figures: figures(results) }, null, 2)}\n`,
);
log(`wrote ${join(outDir, 'RESULTS.md')} and results.json`);
if (failures.length > 0) process.exitCode = 1;
