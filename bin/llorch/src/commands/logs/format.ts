import PinoPretty from 'pino-pretty';
import { isRequest, type LogEntry } from './log-entry.ts';

/** The ids a line is about, shown first and short: `task=… pool=demo/r0`. */
const ID_KEYS = ['task_id', 'correlation_id', 'pool_id', 'replica_id', 'model', 'node', 'trace_id'] as const;
/** Bindings every line has, or that say nothing to a reader. */
const DROPPED = ['pid', 'hostname', 'name', 'v'] as const;

const text = (value: unknown): string =>
  typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';

function take(record: Record<string, unknown>, key: string): string {
  const value = text(record[key]);
  delete record[key];
  return value;
}

/** `task=<id> pool=<pool>/<replica>`, from the id bindings of a record (removed from it). */
function ids(record: Record<string, unknown>): string {
  const task = take(record, 'task_id') || take(record, 'correlation_id');
  const pool = take(record, 'pool_id');
  const replica = take(record, 'replica_id');
  const parts = [
    task && `task=${task}`,
    pool && `pool=${pool}${replica ? `/${replica}` : ''}`,
    !pool && replica ? `replica=${replica}` : '',
  ];
  for (const key of ID_KEYS.slice(4)) {
    const value = take(record, key);
    if (value) parts.push(`${key}=${value}`);
  }
  return parts.filter(Boolean).join(' ');
}

/**
 * One line of the request log: `dispatch finished task=… pool=demo/r0 /v1/chat/completions 200 ok tokens 12→40
 * queue 3 ms, first token 20 ms, 180 ms`. Reads pool-managerd's `dispatch finished` (task id as
 * correlation id, pool, replica, endpoint, status, outcome, duration) and orchestratord's `task finished`
 * (model, tokens, queue/first-token/decode times) — whichever fields the line has.
 */
function requestMessage(record: Record<string, unknown>): string {
  const head = ids(record);
  const what = [
    take(record, 'endpoint'),
    take(record, 'status'),
    take(record, 'outcome') || take(record, 'finish_reason'),
  ];
  const tokensIn = take(record, 'tokens_in');
  const tokensOut = take(record, 'tokens_out');
  const tokens = tokensIn || tokensOut ? `tokens ${tokensIn || '?'}→${tokensOut || '?'}` : '';
  const times = [
    ['queue_ms', 'queue'],
    ['first_token_ms', 'first token'],
    ['decode_ms', 'decode'],
    ['duration_ms', ''],
  ]
    .map(([key, label]) => {
      const ms = take(record, key ?? '');
      return ms && `${label ? `${label} ` : ''}${ms} ms`;
    })
    .filter(Boolean)
    .join(', ');
  return [take(record, 'msg'), head, ...what, tokens, times].filter(Boolean).join(' ');
}

export interface Formatter {
  (entry: LogEntry): string;
}

/**
 * Lines as a person reads them, pino-pretty style: local time, level, the log's name, the message and the ids
 * it is about, then the other fields (errors with their stack). Colour follows the terminal (NO_COLOR and
 * FORCE_COLOR are honoured by pino-pretty's colorette).
 */
export function formatter(options: { readonly colorize?: boolean } = {}): Formatter {
  const prettify = PinoPretty.prettyFactory({
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    singleLine: true,
    ...(options.colorize === undefined ? {} : { colorize: options.colorize }),
  });
  return (entry) => {
    if (entry.kind === 'text') {
      // Engine and other text lines go through the same layout: time, level, where from, the text.
      const level = entry.level ?? 30;
      return prettify({ level, time: entry.time || undefined, msg: `${entry.source.padEnd(13)} ${entry.text}` });
    }
    const record: Record<string, unknown> = { ...entry.record };
    const message = isRequest(entry)
      ? requestMessage(record)
      : [take(record, 'msg'), ids(record)].filter(Boolean).join(' ');
    for (const key of DROPPED) delete record[key];
    // pino-pretty leaves a space before an error's block.
    return prettify({ ...record, msg: `${entry.source.padEnd(13)} ${message}` }).replace(/ +\n/g, '\n');
  };
}
