/**
 * Hostile input against a running orchestratord. For every route that takes a body, `perEndpoint` requests made by
 * fast-check from one seed: wrong types for every field the route's schema knows, huge numbers (also as raw text
 * JSON cannot hold), max_tokens 10^9, deep nesting, lone surrogates as raw JSON escapes, invalid UTF-8 bytes, bodies
 * that are not JSON or are empty, wrong or missing content types, unknown fields, 1 MB prompts and a few bodies past
 * the 4 MiB limit (which must be answered 413). No answer may be a 5xx or missing, and every 4xx must carry the
 * route's error envelope. Requests are made one at a time from (seed, route, index), so memory stays bounded and a
 * run is reproducible; a task that is admitted (202) is canceled at once.
 */
import { Client, Pool, request } from 'undici';
import { AnthropicErrorResponseSchema, ErrorEnvelopeSchema, OpenAIErrorResponseSchema } from '@llama-orch/contracts';
import { type Hostile, type Route, ROUTES, type Shape } from './hostile-routes.ts';
import { requestAt } from './hostile-requests.ts';

export interface EndpointTally {
  readonly endpoint: string;
  readonly sent: number;
  readonly byStatus: Record<string, number>;
  /** answers with status >= 500, or no answer at all (connection reset, timeout): must be 0 */
  readonly serverErrors: number;
  /** 4xx answers whose body is not the error envelope of that route (or an oversized body not answered 413): must be 0 */
  readonly badEnvelopes: number;
  /** up to 5 examples of the above failures: the request (first 200 chars) and the answer (status, first 200 chars) */
  readonly examples: readonly string[];
}

export interface HostileResult {
  readonly perEndpoint: number;
  readonly endpoints: readonly EndpointTally[];
  /** orchestratord still answers GET /health 200 at the end */
  readonly alive: boolean;
  /** Within 30 s of the last request every pool's slots are free again: nothing admitted was left holding one. */
  readonly drained: boolean;
  readonly seed: number;
}

const IN_FLIGHT = 16;
const TIMEOUT_MS = 30_000;
const KEEP = 200;

const ENVELOPES = {
  native: ErrorEnvelopeSchema,
  openai: OpenAIErrorResponseSchema,
  anthropic: AnthropicErrorResponseSchema,
} as const;

function hasEnvelope(shape: Shape, body: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  if (!ENVELOPES[shape].safeParse(parsed).success) return false;
  return shape !== 'native' || typeof (parsed as { retriable?: unknown }).retriable === 'boolean';
}

function summary(hostile: Hostile): string {
  const { body } = hostile;
  const preview =
    typeof body === 'function'
      ? '(chunked stream)'
      : typeof body === 'string'
        ? body.slice(0, KEEP)
        : JSON.stringify(body.subarray(0, KEEP).toString('latin1'));
  return `${hostile.label} [${hostile.contentType ?? 'no content-type'}] ${preview}`.slice(0, KEEP);
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** POST and read at most 64 KiB of the answer; a failure to answer is a thrown error. */
async function send(pool: Pool, url: string, path: string, hostile: Hostile | null): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (hostile?.contentType != null) headers['content-type'] = hostile.contentType;
  const body = hostile === null ? null : typeof hostile.body === 'function' ? hostile.body() : hostile.body;
  // An oversized body is answered (413) while the client still sends it; on a connection of its own, no other request
  // is handed to that connection while the client finishes the body (undici's race, not the server's: the server
  // reads and drops the rest, or closes a chunked one with `Connection: close`, as body-limit.test shows).
  const own = hostile?.oversized === true ? new Client(url) : null;
  try {
    const answer = await request(`${url}${path}`, {
      method: 'POST',
      headers,
      body,
      dispatcher: own ?? pool,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      parts.push(chunk);
      size += chunk.length;
      if (size > 64 * 1024) break;
    }
    return { status: answer.statusCode, body: Buffer.concat(parts).toString('utf8') };
  } finally {
    await own?.destroy();
  }
}

const failureCode = (error: unknown): string =>
  (error as { code?: string }).code ?? (error as { name?: string }).name ?? 'unknown';

async function measureRoute(
  pool: Pool,
  url: string,
  route: Route,
  index: number,
  count: number,
  seed: number,
): Promise<EndpointTally> {
  const byStatus: Record<string, number> = {};
  const examples: string[] = [];
  let sent = 0;
  let serverErrors = 0;
  let badEnvelopes = 0;
  const note = (hostile: Hostile | string, answer: string): void => {
    if (examples.length < 5)
      examples.push(`${typeof hostile === 'string' ? hostile : summary(hostile)} → ${answer.slice(0, KEEP)}`);
  };
  const one = async (i: number): Promise<void> => {
    const hostile = requestAt(route, index, seed, i);
    sent += 1;
    let answer: Answer;
    try {
      answer = await send(pool, url, route.path, hostile);
    } catch (error) {
      const key = `no answer (${failureCode(error)})`;
      byStatus[key] = (byStatus[key] ?? 0) + 1;
      serverErrors += 1;
      note(hostile, key);
      return;
    }
    byStatus[String(answer.status)] = (byStatus[String(answer.status)] ?? 0) + 1;
    if (answer.status >= 500) {
      serverErrors += 1;
      note(hostile, `${answer.status} ${answer.body}`);
    } else if (answer.status >= 400 && !hasEnvelope(route.shape, answer.body)) {
      badEnvelopes += 1;
      note(hostile, `${answer.status} ${answer.body}`);
    } else if (hostile.oversized === true && answer.status !== 413) {
      badEnvelopes += 1;
      note(hostile, `${answer.status} (expected 413) ${answer.body}`);
    }
    if (answer.status === 202) await cancel(answer.body);
  };
  const cancel = async (admitted: string): Promise<void> => {
    const taskId = (JSON.parse(admitted) as { task_id: string }).task_id;
    const path = `/v2/tasks/${encodeURIComponent(taskId)}/cancel`;
    try {
      const answer = await send(pool, url, path, null);
      if (answer.status < 500) return;
      serverErrors += 1;
      note(`cancel ${taskId}`, `${answer.status} ${answer.body}`);
    } catch (error) {
      serverErrors += 1;
      note(`cancel ${taskId}`, `no answer (${failureCode(error)})`);
    }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next;
      next += 1;
      await one(i);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker()));
  return { endpoint: `POST ${route.path}`, sent, byStatus, serverErrors, badEnvelopes, examples };
}

/** Whether every pool orchestratord lists has all its slots free again within 30 s. */
async function drainedWithin(pool: Pool, url: string): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const answer = await request(`${url}/v2/pools`, { dispatcher: pool, signal: AbortSignal.timeout(5_000) });
      const { pools } = (await answer.body.json()) as { pools: { slots_free: number; slots_total: number }[] };
      if (pools.length > 0 && pools.every((p) => p.slots_free === p.slots_total)) return true;
    } catch {
      // asked again below
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

async function healthy(pool: Pool, url: string): Promise<boolean> {
  try {
    const answer = await request(`${url}/health`, { dispatcher: pool, signal: AbortSignal.timeout(10_000) });
    await answer.body.dump();
    return answer.statusCode === 200;
  } catch {
    return false;
  }
}

/**
 * Send `perEndpoint` hostile requests to each body-taking route of the orchestratord at `url` (HOME profile, no
 * auth, a pool serving `demo`), at most 16 in flight, one route after another; tally the answers.
 */
export async function measureHostile(url: string, perEndpoint: number, seed: number): Promise<HostileResult> {
  const pool = new Pool(url, { connections: IN_FLIGHT });
  try {
    const endpoints: EndpointTally[] = [];
    for (const [index, route] of ROUTES.entries())
      endpoints.push(await measureRoute(pool, url, route, index, perEndpoint, seed));
    const alive = await healthy(pool, url);
    return { perEndpoint, endpoints, alive, drained: alive && (await drainedWithin(pool, url)), seed };
  } finally {
    await pool.close();
  }
}
