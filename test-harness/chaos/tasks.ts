/**
 * What the chaos sections do with tasks: submit one, follow its events within a budget, and judge the stream by the
 * invariants (exactly one terminal event, nothing after it).
 */
import { request } from 'undici';
import { followEvents, type SseEvent } from '../src/sse.ts';

export interface TaskRun {
  readonly id: string;
  /** The POST's status (202 admitted, 429 refused, …). */
  readonly status: number;
  readonly retryAfter: string | null;
  readonly events: readonly SseEvent[];
  /** The terminal events seen: exactly one for an admitted task. */
  readonly terminals: number;
  /** Events after the first terminal one: must be 0. */
  readonly afterTerminal: number;
  readonly tokens: number;
  /** `end`, or the error's code; null when the stream had no terminal event. */
  readonly outcome: string | null;
  /** Why following failed (budget, connection), null when it ended. */
  readonly followError: string | null;
  /** When the POST was sent and when the run ended (its stream, or the refused POST), Date.now(). */
  readonly startedAt: number;
  readonly endedAt: number;
}

const isTerminal = (e: SseEvent): boolean => e.event === 'end' || e.event === 'error';

export function judge(
  id: string,
  status: number,
  retryAfter: string | null,
  events: readonly SseEvent[],
  followError: string | null,
  startedAt = Date.now(),
): TaskRun {
  const first = events.findIndex(isTerminal);
  const terminal = first < 0 ? undefined : events[first];
  return {
    id,
    status,
    retryAfter,
    events,
    terminals: events.filter(isTerminal).length,
    afterTerminal: first < 0 ? 0 : events.length - first - 1,
    tokens: events.filter((e) => e.event === 'token').length,
    outcome: terminal === undefined ? null : terminal.event === 'end' ? 'end' : String(terminal.data['code']),
    followError,
    startedAt,
    endedAt: Date.now(),
  };
}

/** POST /v2/tasks, then (when admitted) follow its events to the end within `budgetMs`. */
export async function runTask(
  url: string,
  body: Record<string, unknown> & { task_id: string },
  budgetMs: number,
  options: { readonly onEvent?: (event: SseEvent) => void; readonly headers?: Record<string, string> } = {},
): Promise<TaskRun> {
  const startedAt = Date.now();
  const headers = options.headers ?? {};
  const answer = await request(`${url}/v2/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    headersTimeout: budgetMs,
  }).catch((error: unknown) => error as Error);
  if (answer instanceof Error) return judge(body.task_id, 0, null, [], describe(answer), startedAt);
  await answer.body.dump();
  const retryAfter = answer.headers['retry-after'];
  const retry = typeof retryAfter === 'string' ? retryAfter : null;
  if (answer.statusCode !== 202) return judge(body.task_id, answer.statusCode, retry, [], null, startedAt);
  const seen: SseEvent[] = [];
  try {
    const followed = await followEvents(`${url}/v2/tasks/${body.task_id}/events`, {
      timeoutMs: budgetMs,
      headers,
      onEvent: (event) => {
        seen.push(event);
        options.onEvent?.(event);
      },
    });
    return judge(body.task_id, 202, retry, followed.events, null, startedAt);
  } catch (error) {
    // The events that came before the stream broke still count (a cut stream must not have had a terminal one).
    return judge(body.task_id, 202, retry, seen, describe(error as Error), startedAt);
  }
}

/** An error's message with its cause's code (undici says "fetch failed"/"other side closed" and hides ECONNREFUSED). */
function describe(error: Error): string {
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

/** Run `work` over `items` with at most `width` at once, in order of start. */
export async function inWaves<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const i = next;
      next += 1;
      if (i >= items.length) return;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return out;
}

/** Counts of each value. */
export function tally(values: readonly (string | null)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v ?? 'none'] = (out[v ?? 'none'] ?? 0) + 1;
  return out;
}
