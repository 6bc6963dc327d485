/**
 * The llama-server engines a pool-managerd started, found from /proc (their parent and argv), and what each says of
 * its slots (`GET /slots`): the engine's own account of which prompt each slot holds and how much of it was reused.
 */
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'undici';

export interface EngineProcess {
  readonly pid: number;
  readonly url: string;
}

/** One slot as llama-server's /slots reports it (the fields the tests read). */
export interface EngineSlot {
  readonly id: number;
  readonly id_task?: number;
  readonly is_processing: boolean;
  /** Tokens the slot holds in KV cache now. */
  readonly n_prompt_tokens?: number;
  /** Of its last request's prompt: tokens computed, and tokens reused from the cache. */
  readonly n_prompt_tokens_processed?: number;
  readonly n_prompt_tokens_cache?: number;
}

/** The llama-server processes alive under `parent` now, with their command lines (read from /proc). */
export async function llamaServersUnder(parent: number): Promise<{ pid: number; argv: string[] }[]> {
  const found: { pid: number; argv: string[] }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if ((argv[0] ?? '').endsWith('llama-server')) found.push({ pid: Number(entry), argv });
    } catch {
      // gone between the listing and the read
    }
  }
  return found.sort((a, b) => a.pid - b.pid);
}

/** The llama-server processes alive under `parent`, with their loopback URL (from `--port`). */
export async function enginesOf(parent: number): Promise<EngineProcess[]> {
  return (await llamaServersUnder(parent)).flatMap(({ pid, argv }) => {
    const port = argv[argv.indexOf('--port') + 1];
    return port === undefined ? [] : [{ pid, url: `http://127.0.0.1:${port}` }];
  });
}

/** The engine's /slots. */
export async function engineSlots(url: string): Promise<EngineSlot[]> {
  const answer = await request(`${url}/slots`, { signal: AbortSignal.timeout(5_000) });
  const body: unknown = await answer.body.json();
  if (!Array.isArray(body)) throw new Error(`${url}/slots answered ${answer.statusCode} ${JSON.stringify(body)}`);
  return body as EngineSlot[];
}

/** Prompt tokens the engine has computed since it started (its `llamacpp:prompt_tokens_total`; reused ones not). */
export async function promptTokensComputed(url: string): Promise<number> {
  const answer = await request(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await answer.body.text();
  const line = text.split('\n').find((l) => l.startsWith('llamacpp:prompt_tokens_total '));
  if (line === undefined) throw new Error(`${url}/metrics has no llamacpp:prompt_tokens_total`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}
