import { Agent, errors, request, type Dispatcher } from 'undici';

/**
 * The HTTP client pool-managerd uses for its engines (127.0.0.1 only). llama-server closes idle keep-alive
 * sockets after a few seconds, so ours are dropped sooner (ARCHITECTURE §8).
 */
export function engineAgent(): Agent {
  return new Agent({ keepAliveTimeout: 2_000, keepAliveMaxTimeout: 2_000, connections: 256 });
}

function resetBeforeFirstByte(error: unknown): boolean {
  return (
    error instanceof errors.SocketError ||
    (error instanceof Error &&
      'code' in error &&
      ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(String((error as { code: unknown }).code)))
  );
}

/**
 * One request to an engine. A connection reset before any byte of the answer (a reused socket the engine
 * had just closed) is retried once on a fresh connection; nothing is retried after the answer began.
 */
export async function engineRequest(
  agent: Dispatcher,
  url: string,
  options: { method: 'GET' | 'POST'; body?: string; signal?: AbortSignal; timeoutMs?: number },
): Promise<Dispatcher.ResponseData> {
  const attempt = (): Promise<Dispatcher.ResponseData> =>
    request(url, {
      dispatcher: agent,
      method: options.method,
      ...(options.body !== undefined ? { body: options.body, headers: { 'content-type': 'application/json' } } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      headersTimeout: options.timeoutMs ?? 300_000,
      bodyTimeout: 0,
    });
  try {
    return await attempt();
  } catch (error) {
    if (options.signal?.aborted === true || !resetBeforeFirstByte(error)) throw error;
    return attempt();
  }
}
