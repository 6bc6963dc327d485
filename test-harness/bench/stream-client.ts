import { performance } from 'node:perf_hooks';
import { Agent, request, type Dispatcher } from 'undici';

/** Something that answers OpenAI chat completions: the engine, the stack, a relay or another proxy. */
export interface Target {
  readonly name: string;
  readonly url: string;
  /** Wraps the chat body for relays that take an envelope (pool-managerd's dispatch endpoint). */
  readonly wrap?: (body: Record<string, unknown>) => unknown;
  readonly headers?: Record<string, string>;
}

export interface StreamResult {
  readonly tokens: number;
  readonly firstTokenMs: number;
}

export interface RoundResult {
  readonly tokens: number;
  readonly wallMs: number;
  readonly firstTokenMs: readonly number[];
}

const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });

export function closeClients(): Promise<void> {
  return agent.close();
}

type Chunk = { choices?: { delta?: { content?: unknown } }[] };

/**
 * POST a body; sent once more when the pooled connection it went out on had just been closed by the server (llama-server
 * closes its connection after every streamed answer, and the close can cross the next request on the wire), as any
 * client with a connection pool does. Nothing of the answer had arrived, so nothing is counted twice.
 */
async function post(target: Target, body: unknown): Promise<Dispatcher.ResponseData> {
  const send = () =>
    request(target.url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', ...target.headers },
      body: JSON.stringify(body),
    });
  try {
    return await send();
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'UND_ERR_SOCKET') throw error;
    return send();
  }
}

/** One streamed chat completion; tokens are the stream's content chunks, the first one timed from the request. */
export async function streamOnce(target: Target, body: Record<string, unknown>): Promise<StreamResult> {
  const started = performance.now();
  const answer = await post(target, target.wrap ? target.wrap(body) : body);
  if (answer.statusCode !== 200) {
    throw new Error(`${target.name}: HTTP ${answer.statusCode}: ${(await answer.body.text()).slice(0, 300)}`);
  }
  let tokens = 0;
  let firstTokenMs = Number.NaN;
  let pending = '';
  answer.body.setEncoding('utf8');
  for await (const text of answer.body as AsyncIterable<string>) {
    pending += text;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
      if (!line.startsWith('data: {')) continue;
      const content = (JSON.parse(line.slice(6)) as Chunk).choices?.[0]?.delta?.content;
      if (typeof content !== 'string' || content === '') continue;
      if (tokens === 0) firstTokenMs = performance.now() - started;
      tokens += 1;
    }
  }
  return { tokens, firstTokenMs };
}

/** `concurrency` streams at once; the round's wall time runs from the first request to the last stream's end. */
export async function streamRound(
  target: Target,
  concurrency: number,
  body: Record<string, unknown>,
): Promise<RoundResult> {
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: concurrency }, () => streamOnce(target, body)));
  return {
    tokens: results.reduce((sum, r) => sum + r.tokens, 0),
    wallMs: performance.now() - started,
    firstTokenMs: results.map((r) => r.firstTokenMs),
  };
}

/** One non-streamed completion (for gateways that cannot stream); tokens from the answer's usage. */
export async function completeOnce(target: Target, body: Record<string, unknown>): Promise<number> {
  const answer = await post(target, { ...body, stream: false });
  const text = await answer.body.text();
  if (answer.statusCode !== 200) throw new Error(`${target.name}: HTTP ${answer.statusCode}: ${text.slice(0, 300)}`);
  const usage = (JSON.parse(text) as { usage?: { completion_tokens?: number } }).usage;
  return usage?.completion_tokens ?? Number.NaN;
}

export async function completeRound(
  target: Target,
  concurrency: number,
  body: Record<string, unknown>,
): Promise<RoundResult> {
  const started = performance.now();
  const tokens = await Promise.all(Array.from({ length: concurrency }, () => completeOnce(target, body)));
  return { tokens: tokens.reduce((a, b) => a + b, 0), wallMs: performance.now() - started, firstTokenMs: [] };
}
