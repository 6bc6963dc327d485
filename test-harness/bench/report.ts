/** RESULTS.md from a run: machine, command, every figure with its spread, and the issue's targets met or not. */
import type { Results, StreamGroup } from './results.ts';
import { fmt, fmtSummary, type Summary } from './stats.ts';

export const CHANGES_HEADING = '## What each change bought';

const CHANGES_PLACEHOLDER = `${CHANGES_HEADING}

_To be filled by the lead: each change, the figure it moved, before → after (from runs of this suite)._
`;

function streamTable(group: StreamGroup): string[] {
  const cpuNames = Object.keys(group.rows[0]?.cpuPerTokenUs ?? {});
  const cpuHead = cpuNames.length === 0 ? '' : ` CPU per candidate token, µs (${cpuNames.join(' / ')}) |`;
  const head = group.streamed
    ? [
        `| streams | candidate tok/s | baseline tok/s | ratio | added first token p50 / p99 (ms) |${cpuHead}`,
        `|---|---|---|---|---|${cpuNames.length === 0 ? '' : '---|'}`,
      ]
    : [
        '| concurrency | candidate tok/s | baseline tok/s | ratio | tokens per request (candidate / baseline) |',
        '|---|---|---|---|---|',
      ];
  const rows = group.rows.map((r) => {
    const cells = [
      String(r.concurrency),
      fmtSummary(r.candidate, 0),
      fmtSummary(r.baseline, 0),
      fmtSummary(r.ratio, 3),
    ];
    if (group.streamed) cells.push(`${fmt(r.addedFirstTokenP50, 2)} / ${fmt(r.addedFirstTokenP99, 2)}`);
    else cells.push(`${fmt(r.tokensPerRequest.candidate, 1)} / ${fmt(r.tokensPerRequest.baseline, 1)}`);
    if (cpuNames.length > 0) cells.push(cpuNames.map((n) => fmt(r.cpuPerTokenUs?.[n] ?? Number.NaN, 0)).join(' / '));
    return `| ${cells.join(' | ')} |`;
  });
  return [
    `### ${group.title}`,
    '',
    `Candidate: ${group.candidate}; baseline: ${group.baseline}; ${group.maxTokens} output tokens per request` +
      `${group.streamed ? ' (streamed, counted from content chunks)' : ' (non-streamed, usage)'}.`,
    '',
    ...head,
    ...rows,
    '',
  ];
}

type Verdict = { figure: string; target: string; measured: string; met: boolean | null };

function verdicts(results: Results): Verdict[] {
  const out: Verdict[] = [];
  const stack = results.streams.find((g) => g.key === 'stack');
  for (const row of stack?.rows ?? []) {
    out.push({
      figure: `stack ÷ direct tok/s, ${row.concurrency} streams`,
      target: '≥ 0.97',
      measured: fmtSummary(row.ratio, 3),
      met: row.ratio.median >= 0.97,
    });
    if (row.concurrency === 1 || row.concurrency === 16) {
      out.push({
        figure: `added first token p50 / p99, ${row.concurrency} streams`,
        target: '≤ 1 ms / ≤ 5 ms',
        measured: `${fmt(row.addedFirstTokenP50, 2)} / ${fmt(row.addedFirstTokenP99, 2)} ms`,
        met: row.addedFirstTokenP50 <= 1 && row.addedFirstTokenP99 <= 5,
      });
    }
  }
  const a = results.admission;
  if (a !== null) {
    out.push({
      figure: `admission + placement p99 (POST /v2/tasks → 202, one connection, ${a.probeQueued} queued)`,
      target: '≤ 2 ms',
      measured: `${fmt(a.postP99Ms, 2)} ms (p50 ${fmt(a.postP50Ms, 2)}; bare node:http p99 ${fmt(a.floor.postP99Ms, 2)})`,
      met: a.postP99Ms <= 2,
    });
    out.push({
      figure: 'POST /v2/tasks → 202 throughput, 64 connections, another process',
      target: '≥ 10,000/s',
      measured: `${fmt(a.tasksPerSecond, 0)}/s (bare node:http ${fmt(a.floor.tasksPerSecond, 0)}/s)`,
      met: a.tasksPerSecond >= 10_000,
    });
    out.push({
      figure: `orchestratord RSS with ${a.queued.toLocaleString('en-US')} queued`,
      target: '≤ 150 MB with 10,000',
      measured: `${fmt(a.fullRssMb, 0)} MB (idle ${fmt(a.idleRssMb, 0)} MB)`,
      met: a.queued >= 10_000 ? a.fullRssMb <= 150 : null,
    });
  }
  const relay = results.streams.find((g) => g.key === 'relay')?.rows.find((r) => r.concurrency === 16);
  if (relay) {
    out.push({
      figure: 'pool-managerd dispatch ÷ direct, 16 streams',
      target: '≥ 0.99',
      measured: fmtSummary(relay.ratio, 3),
      met: relay.ratio.median >= 0.99,
    });
  }
  const start = results.startup.npmStartMs;
  if (start) {
    out.push({
      figure: '`npm start` to its ready line, cached',
      target: '≤ 2 s',
      measured: `${fmtSummary(start, 0)} ms`,
      met: start.median <= 2000,
    });
  }
  return out;
}

const mark = (met: boolean | null): string => (met === null ? 'n/a (fewer queued)' : met ? 'met' : '**not met**');

export function renderReport(results: Results, keptChanges: string | null): string {
  const m = results.machine;
  const s = (x: Summary | null): string => (x ? `${fmtSummary(x, 0)} ms (n=${x.n})` : 'not measured');
  const a = results.admission;
  return [
    `# Benchmark results${results.quick ? ' (quick run)' : ''}`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGb} GiB RAM; Node ${m.node}; commit ${m.commit}; ${results.date}`,
    `- Command: \`${results.command}\``,
    `- Each figure: median (min–max) over ${results.rounds} alternated rounds (A B, B A, …, after one warm-up each); ` +
      'tokens/s = output tokens of a round ÷ its wall time; ratios pair each round with its neighbour.',
    '',
    '## Against the targets (issue 15)',
    '',
    '| figure | target | measured | |',
    '|---|---|---|---|',
    ...verdicts(results).map((v) => `| ${v.figure} | ${v.target} | ${v.measured} | ${mark(v.met)} |`),
    '',
    '## Streams',
    '',
    ...results.streams.flatMap(streamTable),
    '## Admission',
    '',
    a === null
      ? 'Not measured.'
      : [
          `${a.posted.toLocaleString('en-US')} tasks posted by a load generator in its own process (64 connections; ` +
            `${a.refused} refused${a.refused > 0 ? `: ${JSON.stringify(a.refusals)}` : ''}). One pool of one slot holds one long task ` +
            '(its engine at nice 19), so the queue does not drain.',
          '',
          `- Throughput: ${fmt(a.tasksPerSecond, 0)} tasks/s (both 64-connection bursts, probes excluded)`,
          `- CPU (user + system) over the load generator's run, per task posted: orchestratord ${fmt(a.cpuPerTaskUs, 0)} µs, ` +
            `the load generator ${fmt(a.loadgenCpuPerTaskUs, 0)} µs`,
          `- POST /v2/tasks → 202 latency, one connection, ${a.probeQueued} queued: p50 ${fmt(a.postP50Ms, 2)} ms, ` +
            `p99 ${fmt(a.postP99Ms, 2)} ms. orchestratord exposes no admission timing of its own, so this is client-side ` +
            'and includes loopback HTTP, body parsing and validation, admission, placement and the answer.',
          `- orchestratord RSS: ${fmt(a.idleRssMb, 0)} MB idle, ${fmt(a.fullRssMb, 0)} MB with ${a.queued.toLocaleString('en-US')} queued`,
          `- **The floor:** the same load against a bare \`node:http\` server that only reads, parses and keeps each body and ` +
            `answers 202 (\`floor-proc.ts admit\`), beside the same cluster: ${fmt(a.floor.tasksPerSecond, 0)} tasks/s ` +
            `(${a.floor.refused} refused); its CPU ${fmt(a.floor.cpuPerTaskUs, 0)} µs per task, the load generator's ` +
            `${fmt(a.floor.loadgenCpuPerTaskUs, 0)} µs; POST p50 ${fmt(a.floor.postP50Ms, 2)} ms, p99 ` +
            `${fmt(a.floor.postP99Ms, 2)} ms. orchestratord ÷ floor: ${fmt(a.tasksPerSecond / a.floor.tasksPerSecond, 2)} ` +
            'of the throughput.',
        ].join('\n'),
    '',
    '## The floor of a Node hop',
    '',
    results.floor === null
      ? 'Not measured.'
      : [
          `A source writes ${results.floor.events.toLocaleString('en-US')} chunks of ~300 bytes, one per millisecond ` +
            "(llama-server's pace on the demo model); a process between it and the reader moves them. CPU (user + " +
            `system) per chunk, median of ${results.floor.runs} runs:`,
          '',
          `- a TCP pipe (\`net\` sockets piped both ways, no HTTP): ${fmt(results.floor.pipeUs, 0)} µs`,
          `- an HTTP relay (undici request, its body piped to a \`node:http\` response): ${fmt(results.floor.relayUs, 0)} µs`,
          `- the source itself (a timer and a write): ${fmt(results.floor.sourceUs, 0)} µs`,
          '',
          'A token through the HOME stack crosses two such hops (pool-managerd, then orchestratord).',
        ].join('\n'),
    '',
    '## Start-up',
    '',
    `- \`npm start\` to "llama-orch is ready" (engine build and demo model cached): ${s(results.startup.npmStartMs)}`,
    `- orchestratord alone to its listening line: ${s(results.startup.orchestratordMs)}`,
    '',
    ...(results.notes.length > 0 ? ['## Not measured, and why', '', ...results.notes.map((n) => `- ${n}`), ''] : []),
    keptChanges ?? CHANGES_PLACEHOLDER,
  ].join('\n');
}

/** The lead's section of an earlier RESULTS.md, kept as it is. */
export function keptChangesSection(previous: string): string | null {
  const at = previous.indexOf(CHANGES_HEADING);
  if (at < 0) return null;
  const next = previous.indexOf('\n## ', at + CHANGES_HEADING.length);
  return `${previous.slice(at, next < 0 ? undefined : next).trimEnd()}\n`;
}
