import { access } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LlorchEnv } from '../../config.ts';
import { terminal } from '../output.ts';
import { FileFollower, fileLines } from './file-lines.ts';
import { formatter } from './format.ts';
import { concernsPool, isRequest, LineReader, type LogEntry } from './log-entry.ts';
import { DAEMONS, listSources, logsDir, rotatedFiles, type LogSource } from './log-files.ts';

export interface LogsOptions {
  /** A daemon's name, a pool id, or undefined for both daemons. */
  readonly target: string | undefined;
  readonly follow: boolean;
  /** How many of the last lines to show first (Infinity: all, rotated files included; default 200, 20 with --follow). */
  readonly lines: number | undefined;
  readonly requestsOnly: boolean;
  readonly json: boolean;
}

const FOLLOW_POLL_MS = 250;

/** Which logs a target reads, and which of their lines it shows. */
interface Selection {
  readonly reads: (source: LogSource) => boolean;
  readonly shows: (entry: LogEntry, source: LogSource) => boolean;
  readonly what: string;
}

function selection(options: LogsOptions): Selection {
  const { target, requestsOnly } = options;
  const request = (entry: LogEntry): boolean => !requestsOnly || isRequest(entry);
  if (target === undefined)
    return { reads: (s) => s.kind === 'daemon', shows: request, what: 'orchestratord or pool-managerd' };
  if ((DAEMONS as readonly string[]).includes(target))
    return { reads: (s) => s.name === target, shows: request, what: target };
  return {
    reads: (s) => s.kind === 'daemon' || (s.kind === 'engine' && s.pool === target),
    shows: (entry, source) => request(entry) && concernsPool(entry, source, target),
    what: `pool ${target}`,
  };
}

/** One log being read: its lines become entries, the ones the selection shows are kept. */
class Reading {
  readonly source: LogSource;
  readonly follower: FileFollower;
  readonly #reader: LineReader;
  readonly #shows: Selection['shows'];

  constructor(source: LogSource, shows: Selection['shows']) {
    this.source = source;
    this.follower = new FileFollower(source.file);
    this.#reader = new LineReader(source);
    this.#shows = shows;
  }

  keep(raw: string, into: LogEntry[]): void {
    const entry = this.#reader.read(raw);
    if (entry !== null && this.#shows(entry, this.source)) into.push(entry);
  }

  /** The kept entries of the rotated files and of the current file so far, the last `limit` of them. */
  async history(limit: number): Promise<LogEntry[]> {
    let kept: LogEntry[] = [];
    const trim = (): void => {
      if (kept.length > 2 * limit) kept = kept.slice(-limit);
    };
    for (const file of await rotatedFiles(this.source.file)) {
      for await (const raw of fileLines(file)) {
        this.keep(raw, kept);
        trim();
      }
    }
    for (const raw of await this.follower.read()) this.keep(raw, kept);
    return kept.slice(-limit);
  }

  /** What was written since the last read. */
  async next(): Promise<LogEntry[]> {
    const kept: LogEntry[] = [];
    for (const raw of await this.follower.read()) this.keep(raw, kept);
    return kept;
  }
}

/** Entries of several logs in the order they were written (stable: a log's own order is kept). */
const byTime = (entries: LogEntry[]): LogEntry[] => entries.sort((a, b) => a.time - b.time);

/**
 * `llorch logs [--follow] [--lines n|all] [--requests] [orchestratord|pool-managerd|<pool>]`: the logs of the HOME
 * tree of this state directory, readable, rotated files included; with --follow, new lines as they are written
 * (across rotations) until Ctrl-C or until the reader of stdout goes away.
 */
export async function logs(env: LlorchEnv, options: LogsOptions): Promise<number> {
  const { stdout, stderr } = terminal();
  const dir = logsDir(env.stateDir);
  const select = selection(options);
  const format = options.json ? (entry: LogEntry) => `${entry.raw}\n` : formatter();
  const print = (entries: readonly LogEntry[]): void => {
    for (const entry of entries) stdout.write(format(entry));
  };
  const readings = new Map<string, Reading>();
  const discover = async (): Promise<Reading[]> => {
    const found: Reading[] = [];
    for (const source of await listSources(dir)) {
      if (!select.reads(source) || readings.has(source.file)) continue;
      const reading = new Reading(source, select.shows);
      readings.set(source.file, reading);
      found.push(reading);
    }
    return found;
  };

  const first = await discover();
  const engines = first.filter((r) => r.source.kind === 'engine').length;
  const missing =
    first.length === 0 || (options.target !== undefined && select.what.startsWith('pool') && engines === 0);
  if (missing && !options.follow) {
    stderr.write(`llorch logs: ${await noLogs(dir, select.what)}\n`);
    return 1;
  }
  if (missing) stderr.write(`llorch logs: waiting for the logs of ${select.what} in ${dir} …\n`);
  const limit = options.lines ?? (options.follow ? 20 : 200);
  const histories = await Promise.all(first.map((r) => r.history(limit)));
  print(byTime(histories.flat()).slice(-limit));

  try {
    while (options.follow && !stdout.gone.aborted) {
      await sleep(FOLLOW_POLL_MS, undefined, { signal: stdout.gone }).catch(() => undefined);
      // A log that appears later (an engine that starts, a daemon's first line) is read from its start.
      await discover();
      const fresh = await Promise.all([...readings.values()].map((r) => r.next()));
      print(byTime(fresh.flat()));
    }
  } finally {
    await Promise.all([...readings.values()].map((r) => r.follower.close()));
  }
  return 0;
}

async function noLogs(dir: string, what: string): Promise<string> {
  const exists = await access(dir).then(
    () => true,
    () => false,
  );
  if (!exists)
    return `no logs in ${dir}: \`llorch home\` writes them there for this state directory (POOL_MANAGERD_RUNTIME_DIR chooses another)`;
  const there = (await listSources(dir)).map((s) => s.name);
  return `no log of ${what} in ${dir}${there.length > 0 ? ` (logs there: ${there.join(', ')})` : ''}`;
}
