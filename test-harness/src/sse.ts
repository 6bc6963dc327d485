/**
 * Following streams in tests, always within a time budget: a missing event fails the test fast and says what
 * the stream did show, instead of hanging until the suite's timeout.
 */
import { createParser } from 'eventsource-parser';
import { request } from 'undici';

export interface SseEvent {
  readonly event: string;
  /** The event's JSON data; a frame that is not a JSON object (`[DONE]`) is kept as `{ raw }`. */
  readonly data: Record<string, unknown>;
}

export interface Followed {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly events: SseEvent[];
}

/** How long a test follows one stream unless it says otherwise. */
export const STREAM_BUDGET_MS = 30_000;

/** The events by name, runs folded: `started, token×40, metrics, end`. */
export function summarize(events: readonly SseEvent[]): string {
  const runs: { name: string; count: number }[] = [];
  for (const { event } of events) {
    const last = runs.at(-1);
    if (last?.name === event) last.count += 1;
    else runs.push({ name: event, count: 1 });
  }
  return runs.length === 0 ? 'no event' : runs.map((r) => (r.count > 1 ? `${r.name}×${r.count}` : r.name)).join(', ');
}

/**
 * Run `follow` within `ms`: at the deadline its signal aborts and `within` rejects at once with
 * "<what>: no terminal event within <ms> ms, saw: <seen()>", whether or not `follow` heeds the signal.
 */
export async function within<T>(
  what: string,
  ms: number,
  follow: (signal: AbortSignal) => Promise<T>,
  seen: () => string = () => 'nothing',
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`${what}: no terminal event within ${ms} ms, saw: ${seen()}`);
      reject(error);
      controller.abort(error);
    }, ms);
  });
  const following = follow(controller.signal);
  following.catch(() => undefined); // a rejection after the deadline is already reported as the deadline
  try {
    return await Promise.race([following, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Follow an SSE stream (a task's events, a pool-managerd dispatch) until the server ends it, calling `onEvent`
 * for each event. Fails after `timeoutMs` (default STREAM_BUDGET_MS) with the events seen so far. The caller's
 * own `signal` is a client leaving: when it aborts, the events seen so far are the answer.
 */
export async function followEvents(
  url: string,
  options: {
    timeoutMs?: number;
    signal?: AbortSignal;
    method?: 'GET' | 'POST';
    body?: unknown;
    headers?: Record<string, string>;
    onEvent?: (event: SseEvent) => void;
  } = {},
): Promise<Followed> {
  const method = options.method ?? 'GET';
  const events: SseEvent[] = [];
  let status: number | null = null;
  return within(
    `${method} ${url}`,
    options.timeoutMs ?? STREAM_BUDGET_MS,
    async (budget) => {
      const answer = await request(url, {
        method,
        signal: options.signal ? AbortSignal.any([budget, options.signal]) : budget,
        headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      });
      status = answer.statusCode;
      const parser = createParser({
        onEvent: (message) => {
          const event = { event: message.event ?? 'message', data: parseData(message.data) };
          events.push(event);
          options.onEvent?.(event);
        },
      });
      try {
        for await (const chunk of answer.body) parser.feed((chunk as Buffer).toString('utf8'));
      } catch (error) {
        if (!(options.signal?.aborted ?? false)) throw error;
      }
      return { status: answer.statusCode, headers: answer.headers, events };
    },
    () => `${status === null ? 'no answer' : `HTTP ${status}`}, ${summarize(events)}`,
  );
}

function parseData(data: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // not JSON: kept raw below
  }
  return { raw: data };
}
