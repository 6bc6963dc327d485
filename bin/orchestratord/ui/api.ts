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

/** What an error answer says: the envelope's code and message (else the status line), and whether to retry. */
export async function errorOf(response: Response): Promise<{ message: string; retriable: boolean }> {
  try {
    const envelope = (await response.json()) as Partial<ErrorEnvelope>;
    if (typeof envelope.message === 'string')
      return {
        message: `${envelope.code ?? response.status}: ${envelope.message}`,
        retriable: envelope.retriable === true,
      };
  } catch {
    // not JSON: the status says enough
  }
  return { message: `HTTP ${response.status} ${response.statusText}`, retriable: response.status >= 500 };
}

/** The message of an error answer. */
export async function errorMessage(response: Response): Promise<string> {
  return (await errorOf(response)).message;
}

/** An answer that was not 2xx. */
export class ApiError extends Error {
  readonly status: number;
  /** The envelope says a retry may succeed (a 401 while the OIDC issuer cannot be reached, for one). */
  readonly retriable: boolean;
  constructor(status: number, message: string, retriable: boolean) {
    super(message);
    this.status = status;
    this.retriable = retriable;
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
  if (!response.ok) {
    const error = await errorOf(response);
    throw new ApiError(response.status, error.message, error.retriable);
  }
  if (response.body === null) return;
  const parser = createParser({ onEvent });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(value);
    }
  } finally {
    // Ended early (an event handler threw, or the caller aborted): the request goes too, nothing runs on for it.
    await reader.cancel().catch(() => undefined);
  }
}
