import { createHash } from 'node:crypto';

/**
 * Where a prompt's KV cache is in a pool's engines (issue 19). llama-server keeps each slot's last prompt and reuses
 * its longest common prefix with the next request on that slot (`cache_prompt`); a prompt pushed out of its slot by
 * another goes to the replica's prompt cache in RAM (`--cache-ram`), from which a later request on the same replica
 * restores it. So a prompt's next turn is cheap on its own slot, cheaper on its replica than elsewhere, and pays the
 * whole prefill anywhere else.
 */
export interface CacheSpot {
  readonly replicaId: string;
  /** The engine that holds it (its pid): a restarted engine has an empty cache. */
  readonly pid: number;
  /** The engine slot holding it now; null once another prompt took that slot (it is in the replica's RAM cache). */
  slot: number | null;
  /** Prompt tokens cached (for the prefill it saves). */
  readonly tokens: number;
}

/** Lookup keys of one request, longest prefix first: a session's key, then its prompt's prefixes. */
export interface PromptKeys {
  readonly keys: readonly { readonly key: string; readonly chars: number }[];
  /** The prompt's length in characters (to scale a prefix's share of the engine's token count). */
  readonly chars: number;
}

/** A prefix shorter than this is not worth routing for: its prefill costs about what one token does. */
export const MIN_PREFIX_CHARS = 256;
/** A long plain prompt is keyed at every this many characters. */
const CHUNK_CHARS = 1024;
/** Keys remembered per pool; the least recently recorded go first. */
const MAX_KEYS = 8192;
/** A message list is keyed at most at this many boundaries (the longest ones). */
const MAX_BOUNDARIES = 32;

const hash = (previous: string, text: string): string =>
  createHash('sha256').update(previous).update('\u0000').update(text).digest('base64url').slice(0, 22);

const messageText = (message: unknown): string => {
  if (typeof message !== 'object' || message === null) return JSON.stringify(message) ?? '';
  const { role, content } = message as { role?: unknown; content?: unknown };
  return `${String(role)}\n${typeof content === 'string' ? content : JSON.stringify(content ?? null)}\n`;
};

/**
 * The keys a request's prompt is cached under: one per message boundary of a chat (the running hash of the messages
 * so far), or per CHUNK_CHARS of a plain prompt; `session`, when orchestratord sent one, first. Lookup takes the
 * longest known; recording stores them all, so the next turn of the conversation, whose messages begin with these,
 * finds this one's, and requests that share a long system prompt find each other's.
 */
export function promptKeys(body: Record<string, unknown>, session: string | undefined): PromptKeys {
  const pieces: string[] = [];
  const messages = body['messages'] ?? body['input'];
  if (Array.isArray(messages)) for (const message of messages) pieces.push(messageText(message));
  else if (typeof body['prompt'] === 'string') {
    const prompt = body['prompt'];
    for (let at = 0; at < prompt.length; at += CHUNK_CHARS) pieces.push(prompt.slice(at, at + CHUNK_CHARS));
  } else if (typeof messages === 'string') pieces.push(messages);
  if (typeof body['system'] === 'string') pieces.unshift(`system\n${body['system']}\n`); // /v1/messages
  const keys: { key: string; chars: number }[] = [];
  let running = '';
  let chars = 0;
  for (const piece of pieces) {
    running = hash(running, piece);
    chars += piece.length;
    if (chars >= MIN_PREFIX_CHARS) keys.push({ key: running, chars });
  }
  const longest = keys.slice(-MAX_BOUNDARIES).reverse();
  return { keys: session === undefined ? longest : [{ key: `session:${session}`, chars }, ...longest], chars };
}

/** One pool's map from prompt keys to where their KV cache is, and the measured cost of recomputing it. */
export class KvCacheMap {
  /** pool → key → spot; insertion order is recording order (oldest first). */
  readonly #spots = new Map<string, Map<string, CacheSpot>>();
  /** pool → `replica/slot` → the spots in that slot now. */
  readonly #inSlot = new Map<string, Map<string, Set<CacheSpot>>>();
  /** pool → prefill milliseconds per prompt token (EWMA of what the engines took). */
  readonly #prefillMs = new Map<string, number>();
  /** pool → milliseconds a dispatch holds its slot (EWMA). */
  readonly #holdMs = new Map<string, number>();

  /** The longest of `keys` cached on a live engine of the pool (`pidOf`: the replica's engine pid now), or null. */
  lookup(
    poolId: string,
    prompt: PromptKeys,
    pidOf: (replicaId: string) => number | undefined,
  ): { spot: CacheSpot; key: string } | null {
    const spots = this.#spots.get(poolId);
    if (spots === undefined) return null;
    for (const { key } of prompt.keys) {
      const spot = spots.get(key);
      if (spot === undefined) continue;
      if (pidOf(spot.replicaId) === spot.pid) return { spot, key };
      this.#drop(poolId, key, spot);
    }
    return null;
  }

  /**
   * A request ran on that slot and left `tokens` prompt tokens cached (the engine's count): every key of its prompt
   * is now there, and whatever the slot held before moved to the replica's RAM cache.
   */
  record(
    poolId: string,
    prompt: PromptKeys,
    at: { replicaId: string; pid: number; slot: number },
    tokens: number,
  ): void {
    const spots = this.#spots.get(poolId) ?? new Map<string, CacheSpot>();
    this.#spots.set(poolId, spots);
    const slots = this.#inSlot.get(poolId) ?? new Map<string, Set<CacheSpot>>();
    this.#inSlot.set(poolId, slots);
    const slotKey = `${at.replicaId}/${at.slot}`;
    for (const previous of slots.get(slotKey) ?? []) previous.slot = null;
    const now = new Set<CacheSpot>();
    slots.set(slotKey, now);
    for (const { key, chars } of prompt.keys) {
      const share = key.startsWith('session:') || prompt.chars === 0 ? 1 : chars / prompt.chars;
      const spot: CacheSpot = {
        replicaId: at.replicaId,
        pid: at.pid,
        slot: at.slot,
        tokens: Math.round(tokens * share),
      };
      const old = spots.get(key);
      if (old !== undefined) this.#drop(poolId, key, old);
      spots.set(key, spot);
      now.add(spot);
    }
    for (const [key, spot] of spots) {
      if (spots.size <= MAX_KEYS) break;
      this.#drop(poolId, key, spot);
    }
  }

  /** Forget a key (its session was deleted); where it was, if on a live slot. */
  take(poolId: string, key: string): CacheSpot | null {
    const spot = this.#spots.get(poolId)?.get(key);
    if (spot === undefined) return null;
    this.#drop(poolId, key, spot);
    return spot;
  }

  #drop(poolId: string, key: string, spot: CacheSpot): void {
    this.#spots.get(poolId)?.delete(key);
    if (spot.slot !== null) this.#inSlot.get(poolId)?.get(`${spot.replicaId}/${spot.slot}`)?.delete(spot);
  }

  /** What the engine took for a prefill of `tokens` it had to compute (not those it reused). */
  observePrefill(poolId: string, ms: number, tokens: number): void {
    if (tokens < 32) return; // too short to tell prefill from the first token's decode
    ewma(this.#prefillMs, poolId, ms / tokens);
  }

  observeHold(poolId: string, ms: number): void {
    ewma(this.#holdMs, poolId, ms);
  }

  /** Milliseconds per prompt token a cold start pays on this pool; null until measured. */
  prefillMsPerToken(poolId: string): number | null {
    return this.#prefillMs.get(poolId) ?? null;
  }

  /** How long a dispatch holds its slot on this pool; null until measured. */
  holdMs(poolId: string): number | null {
    return this.#holdMs.get(poolId) ?? null;
  }
}

function ewma(map: Map<string, number>, key: string, sample: number): void {
  const previous = map.get(key);
  map.set(key, previous === undefined ? sample : previous + 0.2 * (sample - previous));
}
