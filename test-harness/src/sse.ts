import { createParser } from 'eventsource-parser';
import { request } from 'undici';

export interface SseEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/**
 * Follow a task's SSE stream, calling `onEvent` for each event; resolves with every event when the server
 * ends the stream (or the signal aborts it).
 */
export async function followEvents(
  url: string,
  options: { signal?: AbortSignal; headers?: Record<string, string>; onEvent?: (event: SseEvent) => void } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; events: SseEvent[] }> {
  const answer = await request(url, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent: (message) => {
      const event = { event: message.event ?? 'message', data: JSON.parse(message.data) as Record<string, unknown> };
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
}
