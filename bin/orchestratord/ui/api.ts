import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { ErrorEnvelope } from '@llama-orch/contracts';

const KEY = 'llama-orch.api-key';

/** The API key the operator typed, kept for this tab only (session storage; never in a URL). */
export const apiKey = (): string | null => sessionStorage.getItem(KEY);
export const saveApiKey = (key: string): void => sessionStorage.setItem(KEY, key);
export const forgetApiKey = (): void => sessionStorage.removeItem(KEY);

/** A request to orchestratord with the API key, if one was given. */
export function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const key = apiKey();
  if (key !== null) headers.set('authorization', `Bearer ${key}`);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  return fetch(path, { ...init, headers });
}

/** The message of an error answer: the envelope's, else the status line. */
export async function errorMessage(response: Response): Promise<string> {
  try {
    const envelope = (await response.json()) as Partial<ErrorEnvelope>;
    if (typeof envelope.message === 'string') return `${envelope.code ?? response.status}: ${envelope.message}`;
  } catch {
    // not JSON: the status says enough
  }
  return `HTTP ${response.status} ${response.statusText}`;
}

/** An answer that was not 2xx. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Read an SSE answer to its end, handing each event to `onEvent`. EventSource cannot send an Authorization header,
 * so the stream is read with fetch and parsed with eventsource-parser. `request` is the path to ask, or an answer
 * already asked for.
 */
export async function readEvents(
  request: string | Promise<Response>,
  init: RequestInit,
  onEvent: (message: EventSourceMessage) => void,
): Promise<void> {
  const response = await (typeof request === 'string' ? api(request, init) : request);
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  if (response.body === null) return;
  const parser = createParser({ onEvent });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    parser.feed(value);
  }
}
