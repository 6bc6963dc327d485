import { request } from 'undici';

/**
 * The requests a llama-server holds (processing + deferred, from its own /metrics): more than its slots means one
 * waits inside the engine, out of sight. null when it does not answer within `timeoutMs` or reports neither gauge.
 */
export async function engineRequestsHeld(url: string, timeoutMs = 2_000): Promise<number | null> {
  try {
    const answer = await request(`${url}/metrics`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const text = await answer.body.text();
    const gauge = (name: string): number | null => {
      const value = new RegExp(`^llamacpp:${name} (\\S+)$`, 'm').exec(text)?.[1];
      return value === undefined ? null : Number(value);
    };
    const processing = gauge('requests_processing');
    const deferred = gauge('requests_deferred');
    return processing === null || deferred === null ? null : processing + deferred;
  } catch {
    return null;
  }
}
