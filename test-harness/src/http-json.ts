import { request, type Dispatcher } from 'undici';

export interface JsonAnswer<T> {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: T;
}

/** A JSON request to one of our daemons (an optional dispatcher carries the client certificate). */
export async function jsonRequest<T = unknown>(
  url: string,
  options: {
    method?: 'GET' | 'POST' | 'DELETE';
    body?: unknown;
    headers?: Record<string, string>;
    dispatcher?: Dispatcher;
  } = {},
): Promise<JsonAnswer<T>> {
  const answer = await request(url, {
    method: options.method ?? 'GET',
    headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
  });
  const text = await answer.body.text();
  return { status: answer.statusCode, headers: answer.headers, body: (text === '' ? null : JSON.parse(text)) as T };
}
