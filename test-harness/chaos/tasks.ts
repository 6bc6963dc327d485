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
}

const isTerminal = (e: SseEvent): boolean => e.event === 'end' || e.event === 'error';

export function judge(
  id: string,
  status: number,
  retryAfter: string | null,
  events: readonly SseEvent[],
  followError: string | null,
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
  };
}

/** POST /v2/tasks, then (when admitted) follow its events to the end within `budgetMs`. */
export async function runTask(
  url: string,
  body: Record<string, unknown> & { task_id: string },
  budgetMs: number,
  onEvent?: (event: SseEvent) => void,
): Promise<TaskRun> {
  const answer = await request(`${url}/v2/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    headersTimeout: budgetMs,
  }).catch((error: unknown) => error as Error);
  if (answer instanceof Error) return judge(body.task_id, 0, null, [], answer.message);
  await answer.body.dump();
  const retryAfter = answer.headers['retry-after'];
  const retry = typeof retryAfter === 'string' ? retryAfter : null;
  if (answer.statusCode !== 202) return judge(body.task_id, answer.statusCode, retry, [], null);
  try {
    const followed = await followEvents(`${url}/v2/tasks/${body.task_id}/events`, {
      timeoutMs: budgetMs,
      ...(onEvent ? { onEvent } : {}),
    });
    return judge(body.task_id, 202, retry, followed.events, null);
  } catch (error) {
    return judge(body.task_id, 202, retry, [], (error as Error).message);
  }
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
