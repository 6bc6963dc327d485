import { request, type Dispatcher } from 'undici';

export interface JsonAnswer<T> {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: T;
}

/** How long a test waits for one JSON answer unless it says otherwise. */
export const ANSWER_BUDGET_MS = 120_000;

/**
 * A JSON request to one of our daemons (an optional dispatcher carries the client certificate). Fails after
 * `timeoutMs` (default ANSWER_BUDGET_MS) with a message naming the request, instead of hanging.
 */
export async function jsonRequest<T = unknown>(
  url: string,
  options: {
    method?: 'GET' | 'POST' | 'DELETE';
    body?: unknown;
    headers?: Record<string, string>;
    dispatcher?: Dispatcher;
    timeoutMs?: number;
  } = {},
): Promise<JsonAnswer<T>> {
  const method = options.method ?? 'GET';
  const timeoutMs = options.timeoutMs ?? ANSWER_BUDGET_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const answer = await request(url, {
      method,
      headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      signal,
    });
    const text = await answer.body.text();
    return { status: answer.statusCode, headers: answer.headers, body: (text === '' ? null : JSON.parse(text)) as T };
  } catch (error) {
    if (signal.aborted)
      throw new Error(`${method} ${url}: no complete answer within ${timeoutMs} ms`, { cause: error });
    throw error;
  }
}
