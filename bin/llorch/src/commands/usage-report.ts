import { UsageReportSchema, validate, type UsageReport, type UsageTotal } from '@llama-orch/contracts';
import { request } from 'undici';
import type { LlorchEnv } from '../config.ts';
import { table, terminal } from './output.ts';
import { authHeaders } from './status.ts';

export interface UsageOptions {
  /** ms since the epoch; undefined: orchestratord's default (the start of the UTC day). */
  readonly since: number | undefined;
  /** ms since the epoch; undefined: now. */
  readonly until: number | undefined;
  readonly identity: string | undefined;
  readonly format: 'table' | 'json' | 'csv';
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
/** A date, or a date and time with an optional zone (none: local time), as ISO 8601 writes them. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/i;

/**
 * A `--since`/`--until` value as a time: what orchestratord takes (ISO 8601, ms since the epoch) or a time ago
 * (`30m`, `24h`, `7d`; s, m, h, d or w; a leading `-` is allowed), resolved against `now`.
 */
export function usageTime(
  option: '--since' | '--until',
  text: string,
  now: number,
): { ok: true; value: number } | { ok: false; message: string } {
  const word = text.trim();
  const ago = /^-?(\d+)([smhdw])$/.exec(word);
  const at = ago
    ? now - Number(ago[1]) * UNIT_MS[ago[2] as keyof typeof UNIT_MS]
    : /^\d+$/.test(word)
      ? Number(word)
      : ISO_8601.test(word)
        ? Date.parse(word)
        : NaN;
  if (Number.isFinite(at) && at >= 0) return { ok: true, value: at };
  return {
    ok: false,
    message: `${option} ${JSON.stringify(text)} is not a time: give ISO 8601 (2025-01-31, 2025-01-31T08:00:00Z), ms since the epoch, or a time ago (30m, 24h, 7d)`,
  };
}

/** A span of time as people read it: `850 ms`, `12.4 s`, `3m 07s`, `2h 05m`. */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const total = Math.round(ms / 1_000);
  const [h, m, s] = [Math.floor(total / 3_600), Math.floor((total % 3_600) / 60), total % 60];
  const two = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}h ${two(m)}m` : `${m}m ${two(s)}s`;
}

const seconds = (value: number): string => value.toFixed(1);
const utc = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
const limit = (value: number | null, show: (n: number) => string): string =>
  value === null ? 'no limit' : show(value);

function sum(totals: readonly UsageTotal[]): UsageTotal {
  return totals.reduce(
    (all, t) => ({
      ...all,
      tasks: all.tasks + t.tasks,
      tokens_in: all.tokens_in + t.tokens_in,
      tokens_out: all.tokens_out + t.tokens_out,
      engine_ms: all.engine_ms + t.engine_ms,
      gpu_seconds: all.gpu_seconds + t.gpu_seconds,
    }),
    { identity: 'TOTAL', model: '', tasks: 0, tokens_in: 0, tokens_out: 0, engine_ms: 0, gpu_seconds: 0 },
  );
}

/** The report as tables: usage per identity and model (with a total line), then today's budgets. */
export function usageTable(report: UsageReport, now: number): string {
  const lines = [`Usage from ${utc(report.since)} to ${utc(report.until)}:`];
  if (report.totals.length === 0) lines.push('  no usage in this window.');
  else {
    const row = (t: UsageTotal): string[] => [
      t.identity,
      t.model,
      String(t.tasks),
      String(t.tokens_in),
      String(t.tokens_out),
      duration(t.engine_ms),
      seconds(t.gpu_seconds),
    ];
    const rows = [
      ['IDENTITY', 'MODEL', 'TASKS', 'TOKENS IN', 'TOKENS OUT', 'ENGINE TIME', 'GPU-SECONDS'],
      ...report.totals.map(row),
      ...(report.totals.length > 1 ? [row(sum(report.totals))] : []),
    ];
    lines.push(table(rows));
  }
  if (report.budgets.length > 0) {
    const day = report.budgets[0]?.day ?? '';
    lines.push(
      '',
      `Budgets (UTC day ${day}; tokens are output tokens, running tasks' max_tokens included):`,
      table([
        ['IDENTITY', 'TOKENS TODAY / LIMIT', 'GPU-SECONDS / LIMIT', 'RESETS'],
        ...report.budgets.map((b) => [
          b.identity,
          `${b.tokens} / ${limit(b.tokens_per_day, String)}`,
          `${seconds(b.gpu_seconds)} / ${limit(b.gpu_seconds_per_day, seconds)}`,
          `${utc(b.resets_at)} (in ${duration(Math.max(0, Date.parse(b.resets_at) - now))})`,
        ]),
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** An RFC 4180 field: quoted when it holds a comma, a quote or a line break (quotes doubled). */
const csvField = (value: string | number): string => {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

const CSV_COLUMNS = ['identity', 'model', 'tasks', 'tokens_in', 'tokens_out', 'engine_ms', 'gpu_seconds'] as const;

/** The totals as CSV: a header line, then one line per identity and model. */
export function usageCsv(report: UsageReport): string {
  const lines = [CSV_COLUMNS.join(','), ...report.totals.map((t) => CSV_COLUMNS.map((c) => csvField(t[c])).join(','))];
  return `${lines.join('\n')}\n`;
}

/** `llorch usage`: the usage ledger of orchestratord (GET /v2/usage) as a table, JSON or CSV. */
export async function usageReport(env: LlorchEnv, options: UsageOptions): Promise<number> {
  const { stdout, stderr } = terminal();
  const query = new URLSearchParams();
  if (options.since !== undefined) query.set('since', new Date(options.since).toISOString());
  if (options.until !== undefined) query.set('until', new Date(options.until).toISOString());
  if (options.identity !== undefined) query.set('identity', options.identity);
  const search = query.size > 0 ? `?${query.toString()}` : '';
  let body: unknown;
  let report: UsageReport;
  try {
    const answer = await request(`${env.url}/v2/usage${search}`, { headers: authHeaders(env) });
    body = await answer.body.json();
    const checked = validate(UsageReportSchema, body);
    if (answer.statusCode !== 200 || !checked.ok) {
      stderr.write(`llorch usage: HTTP ${answer.statusCode} ${JSON.stringify(body)}\n`);
      return 1;
    }
    report = checked.value;
  } catch (error) {
    stderr.write(`llorch usage: orchestratord at ${env.url}: ${(error as Error).message}\n`);
    return 1;
  }
  // The server's report as it came (checked above), not a re-serialised copy.
  if (options.format === 'json') stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  else if (options.format === 'csv') stdout.write(usageCsv(report));
  else stdout.write(usageTable(report, Date.now()));
  return 0;
}
