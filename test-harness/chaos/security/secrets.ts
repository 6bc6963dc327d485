/**
 * Check 3: streams with valid credentials (native tasks, a chat) so the daemons log their busiest paths, then the
 * scan of both daemons' whole output and /metrics for keys, bearer tokens, JWTs and private-key material.
 */
import { createParser } from 'eventsource-parser';
import type { SecurityResult } from './types.ts';
import { HI, STREAM_MS, send, type World } from './world.ts';

/** Submit a task and follow its events; whole when exactly one terminal event came. */
export async function streamTask(w: World, id: string, headers: Record<string, string>, extra = {}): Promise<boolean> {
  const body = { task_id: id, model_ref: 'demo', prompt: 'Hello', max_tokens: 8, ...extra };
  const submitted = await send(w.agent, `${w.url}/v2/tasks`, 'POST', headers, body);
  if (submitted.status !== 202) return false;
  const events = await send(w.agent, `${w.url}/v2/tasks/${id}/events`, 'GET', headers, undefined, STREAM_MS, 4 << 20);
  let terminals = 0;
  const parser = createParser({
    onEvent: (e) => void (e.event === 'end' || e.event === 'error' ? (terminals += 1) : 0),
  });
  parser.feed(events.body);
  return events.status === 200 && terminals === 1;
}

export async function streamChat(w: World, headers: Record<string, string>): Promise<boolean> {
  const body = { model: 'demo', messages: HI, max_tokens: 8, stream: true };
  const a = await send(w.agent, `${w.url}/v1/chat/completions`, 'POST', headers, body, STREAM_MS, 4 << 20);
  return a.status === 200 && a.body.includes('data: [DONE]');
}

function count(text: string, needle: string): number {
  let hits = 0;
  for (let at = text.indexOf(needle); needle !== '' && at >= 0; at = text.indexOf(needle, at + needle.length))
    hits += 1;
  return hits;
}

export function scanLogs(w: World, sources: Record<string, string>): SecurityResult['logs']['patterns'] {
  const keyLines = w.privateKeys.flatMap((pem) =>
    pem.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----')),
  );
  const patterns: [string, (text: string) => number][] = [
    ['the client API key', (t) => count(t, w.clientKey)],
    ['the admin API key', (t) => count(t, w.adminKey)],
    ['the client key less its last character (a near miss)', (t) => count(t, w.clientKey.slice(0, -1))],
    ['`Bearer ` and a token', (t) => t.match(/Bearer\s+[A-Za-z0-9._~+/=-]{8,}/g)?.length ?? 0],
    ['a JWT (`eyJ….eyJ….`)', (t) => t.match(/eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\./g)?.length ?? 0],
    ['`-----BEGIN`', (t) => count(t, '-----BEGIN')],
    [`a line of a private key file (${keyLines.length} lines)`, (t) => keyLines.reduce((s, l) => s + count(t, l), 0)],
  ];
  return patterns.map(([pattern, hitsIn]) => {
    const by = Object.entries(sources).map(([where, text]) => [where, hitsIn(text)] as const);
    const hits = by.reduce((s, [, h]) => s + h, 0);
    return {
      pattern,
      hits,
      where: by
        .filter(([, h]) => h > 0)
        .map(([where, h]) => `${where} ${h}`)
        .join(', '),
    };
  });
}
