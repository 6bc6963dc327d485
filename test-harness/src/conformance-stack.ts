/**
 * The conformance tests' stack: a one-pool cluster on loopback, an `openai` client on orchestratord's /v1 and one
 * on the engine behind it (found through the handoff file pool-managerd watches), so one request can be sent to
 * both and the answers compared.
 */
import type { Handoff } from '@llama-orch/contracts';
import OpenAI from 'openai';
import { startCluster, type Cluster } from './cluster.ts';
import { engineHandoff } from './handoff-of.ts';
import { STREAM_BUDGET_MS, within } from './sse.ts';

export interface ConformanceStack {
  readonly cluster: Cluster;
  /** The one engine behind the pool, as its handoff file describes it (url, pid). */
  readonly engine: Handoff;
  /** The official client on the engine itself. */
  readonly direct: OpenAI;
  /** The official client on orchestratord. */
  readonly relayed: OpenAI;
}

export function openaiClient(baseURL: string, apiKey = 'unused-on-loopback'): OpenAI {
  return new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: STREAM_BUDGET_MS });
}

export async function startConformanceStack(env: NodeJS.ProcessEnv = {}): Promise<ConformanceStack> {
  const cluster = await startCluster([[{ id: 'demo', slots: 2 }]], env);
  try {
    const [node] = cluster.nodes;
    if (node === undefined) throw new Error('the cluster has no node');
    const engine = await engineHandoff(node.proc.output(), 'demo-r0.json');
    const key = env['ORCHD_API_KEYS']?.split(',')[0];
    return {
      cluster,
      engine,
      direct: openaiClient(`${engine.url}/v1`),
      relayed: openaiClient(`${cluster.url}/v1`, key),
    };
  } catch (error) {
    await cluster.cleanup();
    throw error;
  }
}

export interface Pair<T> {
  readonly direct: T;
  readonly relayed: T;
}

/** One request, the same body, to the engine and then through orchestratord. */
export async function sendBoth<T>(stack: ConformanceStack, call: (client: OpenAI) => Promise<T>): Promise<Pair<T>> {
  const direct = await call(stack.direct);
  const relayed = await call(stack.relayed);
  return { direct, relayed };
}

/** Every chunk of a stream, followed within STREAM_BUDGET_MS. */
export async function collect<T>(what: string, open: (signal: AbortSignal) => Promise<AsyncIterable<T>>): Promise<T[]> {
  const chunks: T[] = [];
  await within(
    what,
    STREAM_BUDGET_MS,
    async (signal) => {
      for await (const chunk of await open(signal)) chunks.push(chunk);
    },
    () => `${chunks.length} chunks`,
  );
  return chunks;
}

/** One streamed request, the same body, to the engine and then through orchestratord; every chunk of each. */
export async function streamBoth<T>(
  stack: ConformanceStack,
  what: string,
  open: (client: OpenAI, signal: AbortSignal) => Promise<AsyncIterable<T>>,
): Promise<Pair<T[]>> {
  const direct = await collect(`${what} from the engine`, (signal) => open(stack.direct, signal));
  const relayed = await collect(`${what} through orchestratord`, (signal) => open(stack.relayed, signal));
  return { direct, relayed };
}
