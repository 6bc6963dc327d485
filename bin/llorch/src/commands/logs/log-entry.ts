import type { LogSource } from './log-files.ts';

/** One line of a log, read: a daemon's pino JSON record, or a line of text (an engine's, a crash's). */
export type LogEntry =
  | {
      readonly kind: 'record';
      readonly source: string;
      /** ms since the epoch, for interleaving sources. */
      readonly time: number;
      readonly record: Readonly<Record<string, unknown>>;
      readonly raw: string;
    }
  | {
      readonly kind: 'text';
      readonly source: string;
      readonly time: number;
      /** pino's numeric level when the line says one (llama.cpp's `I`, `W`, `E`), else null. */
      readonly level: number | null;
      readonly text: string;
      readonly raw: string;
    };

/**
 * The messages of the request log: a task admitted, canceled or finished (orchestratord) and every dispatch to an
 * engine (pool-managerd).
 */
export const REQUEST_MESSAGES: ReadonlySet<string> = new Set([
  'task admitted',
  'task canceled',
  'task finished',
  'dispatch finished',
]);

export const isRequest = (entry: LogEntry): boolean =>
  entry.kind === 'record' && REQUEST_MESSAGES.has(String(entry.record['msg']));

/** Whether an entry concerns one pool: an engine line of it, or a daemon record bound to its `pool_id`. */
export function concernsPool(entry: LogEntry, source: LogSource, pool: string): boolean {
  if (source.kind === 'engine') return source.pool === pool;
  return entry.kind === 'record' && entry.record['pool_id'] === pool;
}

/** llama.cpp's `M.SS.mmm.uuu L ` prefix: time since the engine started, and the level letter. */
const LLAMA_LINE = /^(\d+)\.(\d{2})\.(\d{3})\.(\d{3}) ([DIWE]) (.*)$/;
/** The header the engine launcher writes before each start: `# <ISO time> $ <command>`. */
const LAUNCH_HEADER = /^# (\d{4}-\d{2}-\d{2}T[\d:.]+Z) \$ /;
const LLAMA_LEVELS: Readonly<Record<string, number>> = { D: 20, I: 30, W: 40, E: 50 };

/**
 * Reads the lines of one log in order. A line that carries no time of its own (a JSON-less line, an engine line
 * before its first launch header) takes the time of the line before it, so that sources interleave in order.
 */
export class LineReader {
  readonly #source: LogSource;
  #last = 0;
  /** When the engine whose lines follow was launched (its header), for llama.cpp's relative times. */
  #launchedAt: number | null = null;

  constructor(source: LogSource) {
    this.#source = source;
  }

  read(raw: string): LogEntry | null {
    if (raw.trim() === '') return null;
    return this.#source.kind === 'daemon' ? this.#daemon(raw) : this.#engine(raw);
  }

  #daemon(raw: string): LogEntry {
    let record: unknown = null;
    if (raw.startsWith('{')) {
      try {
        record = JSON.parse(raw);
      } catch {
        record = null;
      }
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record))
      return { kind: 'text', source: this.#source.name, time: this.#last, level: null, text: raw, raw };
    const fields = record as Record<string, unknown>;
    if (typeof fields['time'] === 'number') this.#last = fields['time'];
    return {
      kind: 'record',
      source: this.#source.name,
      time: this.#last,
      record: { name: this.#source.name, ...fields },
      raw,
    };
  }

  #engine(raw: string): LogEntry {
    const header = LAUNCH_HEADER.exec(raw);
    if (header?.[1] !== undefined) {
      const at = Date.parse(header[1]);
      if (Number.isFinite(at)) this.#launchedAt = this.#last = at;
      return { kind: 'text', source: this.#source.name, time: this.#last, level: 30, text: raw.slice(2), raw };
    }
    const line = LLAMA_LINE.exec(raw);
    if (line === null)
      return { kind: 'text', source: this.#source.name, time: this.#last, level: null, text: raw, raw };
    const [, minutes, seconds, ms, us, letter, text] = line;
    const offset = Number(minutes) * 60_000 + Number(seconds) * 1000 + Number(ms) + Number(us) / 1000;
    if (this.#launchedAt !== null) this.#last = this.#launchedAt + offset;
    return {
      kind: 'text',
      source: this.#source.name,
      time: this.#last,
      level: LLAMA_LEVELS[letter ?? 'I'] ?? null,
      text: text ?? '',
      raw,
    };
  }
}
