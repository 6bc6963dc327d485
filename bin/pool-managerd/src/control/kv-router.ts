import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { DispatchRequest } from '@llama-orch/contracts';
import { engineRequest } from '../engines/engine-agent.ts';
import type { PoolMetrics } from '../metrics.ts';
import type { PoolRegistry } from '../registry/pool-registry.ts';
import { KvCacheMap, promptKeys, type CacheSpot, type PromptKeys } from '../slots/kv-cache-map.ts';
import type { SlotGuard, SlotLedger, SlotPreference } from '../slots/slot-ledger.ts';

const SLOTS_CHECK_TIMEOUT_MS = 500;
/** The engine routes that take `id_slot` (the OpenAI chat and text completions, and llama-server's own). */
const PINNABLE: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions', '/completion']);
/** The longest a dispatch waits for the busy slot holding its prompt, however long the prefill it saves. */
const MAX_WARM_WAIT_MS = 3_000;
const WARM_POLL_MS = 5;
const ERASE_POLL_MS = 25;
/** How much of an engine answer's end is kept to read its timings from. */
const TAIL_BYTES = 4096;

/** One slot as llama-server's /slots reports it (the fields pool-managerd reads). */
interface EngineSlot {
  readonly id?: unknown;
  readonly is_processing?: unknown;
  readonly n_prompt_tokens?: unknown;
}

/** The engine's /slots, or null when it does not answer in time (stopped, dead, too busy to say). */
export async function engineSlots(agent: Dispatcher, url: string): Promise<EngineSlot[] | null> {
  try {
    const answer = await engineRequest(agent, `${url}/slots`, { method: 'GET', timeoutMs: SLOTS_CHECK_TIMEOUT_MS });
    const slots: unknown = await answer.body.json();
    return Array.isArray(slots) ? (slots as EngineSlot[]) : null;
  } catch {
    return null;
  }
}

/** Where a dispatch goes for its prompt's KV cache, and why (logged with the dispatch, counted in a metric). */
export interface KvRoute {
  readonly prompt: PromptKeys;
  readonly found: { readonly spot: CacheSpot; readonly key: string } | null;
  decision: 'warm' | 'warm_waited' | 'cold_busy' | 'cold';
  reason: string;
}

/**
 * KV-warm slots (issue 19, POOL-3023): which engine slot holds which prompt, where a dispatch should go for its
 * prompt's cache, the engine request pinned to the slot the ledger gave it, and what a finished request teaches.
 */
export class KvRouter {
  readonly #registry: PoolRegistry;
  readonly #slots: SlotLedger;
  readonly #agent: Dispatcher;
  readonly #metrics: PoolMetrics;
  readonly #affinity: boolean;
  readonly #map = new KvCacheMap();

  constructor(registry: PoolRegistry, slots: SlotLedger, agent: Dispatcher, metrics: PoolMetrics, affinity: boolean) {
    this.#registry = registry;
    this.#slots = slots;
    this.#agent = agent;
    this.#metrics = metrics;
    this.#affinity = affinity;
  }

  /**
   * The KV cache this request may reuse: null when it is not a one-slot completion that can be pinned, when KV
   * affinity is off, or when it opts out (`cache_prompt: false`, a task's `kv_hint: cold`).
   */
  route(poolId: string, request: DispatchRequest): KvRoute | null {
    if ((this.#registry.kind(poolId) ?? 'completion') !== 'completion') return null;
    if (!this.#affinity || !PINNABLE.has(request.endpoint) || request.body['cache_prompt'] === false) return null;
    const prompt = promptKeys(request.body, request.cache_key);
    if (prompt.keys.length === 0) return null;
    const replicas = this.#registry.replicas(poolId);
    const found = this.#map.lookup(poolId, prompt, (replicaId) => replicas.get(replicaId)?.handoff.pid);
    return { prompt, found, decision: 'cold', reason: found === null ? 'no engine holds its prefix' : '' };
  }

  /** The replica and slot a claim should prefer for the route's prompt, if an engine holds it. */
  static prefer(route: KvRoute | null): SlotPreference | undefined {
    const spot = route?.found?.spot;
    return spot === undefined ? undefined : { replicaId: spot.replicaId, slot: spot.slot };
  }

  /**
   * The slot a dispatch keeps, once claimed: `guard` when it is where the prompt is (or no engine holds the prompt);
   * else the warm slot, if waiting for it is cheaper than the prefill (#weighWarm). The decision is counted.
   */
  async settle(poolId: string, route: KvRoute | null, guard: SlotGuard, signal: AbortSignal): Promise<SlotGuard> {
    const spot = route?.found?.spot;
    let kept = guard;
    if (route !== null && spot !== undefined) {
      if (guard.replicaId === spot.replicaId && (spot.slot === null || guard.slot === spot.slot)) {
        route.decision = 'warm';
        route.reason =
          spot.slot === null
            ? `its prefix (${spot.tokens} tokens) is in ${spot.replicaId}'s prompt cache`
            : `its prefix (${spot.tokens} tokens) is in slot ${spot.replicaId}/${spot.slot}`;
      } else kept = await this.#weighWarm(poolId, route, spot, guard, signal);
    }
    this.#metrics.kvDispatches.inc({ pool_id: poolId, decision: route?.decision ?? 'off' });
    return kept;
  }

  /**
   * The slot holding the prompt is busy (or its replica is full) and `guard` is a cold one: keep the cold slot, or
   * wait for the warm one when its holder should end sooner than the prefill the cold slot would pay (both measured
   * on this pool). While it waits it keeps the cold slot, so nothing else is promised that capacity.
   */
  async #weighWarm(
    poolId: string,
    route: KvRoute,
    spot: CacheSpot,
    guard: SlotGuard,
    signal: AbortSignal,
  ): Promise<SlotGuard> {
    const prefill = this.#map.prefillMsPerToken(poolId);
    const hold = this.#map.holdMs(poolId);
    const holder = spot.slot === null ? undefined : this.#slots.holder(poolId, spot.replicaId, spot.slot);
    route.decision = 'cold_busy';
    if (prefill === null || hold === null || holder === undefined) {
      route.reason = `its prefix (${spot.tokens} tokens) is on busy ${spot.replicaId}; no measured costs to weigh`;
      return guard;
    }
    const coldMs = spot.tokens * prefill;
    const waitMs = Math.max(0, hold - (Date.now() - holder.claimedAt));
    route.reason = `its prefix (${spot.tokens} tokens) is on busy slot ${spot.replicaId}/${spot.slot}: wait ~${Math.round(waitMs)} ms vs prefill ~${Math.round(coldMs)} ms`;
    if (waitMs >= coldMs || waitMs > MAX_WARM_WAIT_MS) return guard;
    const deadline = Date.now() + Math.min(MAX_WARM_WAIT_MS, waitMs * 2 + 100);
    while (Date.now() < deadline && !signal.aborted && !guard.signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, WARM_POLL_MS));
      if (spot.slot === null || this.#slots.holder(poolId, spot.replicaId, spot.slot) !== undefined) continue;
      const warm = this.#claimExactly(poolId, spot);
      if (warm === null) break;
      guard.release();
      route.decision = 'warm_waited';
      return warm;
    }
    return guard;
  }

  /** That replica's slot if it is free now, else null (nothing held). */
  #claimExactly(poolId: string, spot: CacheSpot): SlotGuard | null {
    const claimed = this.#slots.claim(poolId, this.#registry.candidates(poolId), 1, spot);
    if (claimed !== null && claimed.replicaId === spot.replicaId && claimed.slot === spot.slot) return claimed;
    claimed?.release();
    return null;
  }

  /**
   * The engine request's body, pinned to the slot the ledger gave it: the engine never picks one the ledger promised
   * another dispatch, and a conversation's next turn finds its prompt where it was left. Prompt caching stays on
   * unless the task opted out. Unpinned when KV affinity is off (the engine picks, as before issue 19).
   */
  body(request: DispatchRequest, guard: SlotGuard): Record<string, unknown> {
    if (!this.#affinity || !PINNABLE.has(request.endpoint) || guard.slot === null) return request.body;
    return { ...request.body, id_slot: guard.slot, cache_prompt: request.body['cache_prompt'] !== false };
  }

  /**
   * Keep the last TAIL_BYTES of the engine's answer when there is a prompt to learn about (its timings come in the
   * last chunks, before the usage chunk and `[DONE]`); call the result once the answer ended.
   */
  static tail(route: KvRoute | null, source: Readable): () => Buffer {
    let tail: Buffer = Buffer.alloc(0);
    if (route !== null)
      source.on('data', (chunk: Buffer) => {
        tail =
          chunk.length >= TAIL_BYTES ? chunk.subarray(-TAIL_BYTES) : Buffer.concat([tail, chunk]).subarray(-TAIL_BYTES);
      });
    return () => tail;
  }

  /**
   * A pinned request ended well: the pool's slot hold time is measured; with a prompt, ask the engine how many tokens
   * its slot now holds, remember the prompt there, and learn the pool's prefill cost from the engine's own timings of
   * the request (the tokens it computed, not those it reused, and the time they took).
   */
  ended(
    poolId: string,
    route: KvRoute | null,
    at: { replicaId: string; pid: number; slot: number; url: string },
    heldMs: number,
    tail: Buffer,
  ): void {
    this.#map.observeHold(poolId, heldMs);
    if (route !== null) void this.#learn(poolId, route, at, tail);
  }

  async #learn(
    poolId: string,
    route: KvRoute,
    at: { replicaId: string; pid: number; slot: number; url: string },
    tail: Buffer,
  ): Promise<void> {
    const slot = (await engineSlots(this.#agent, at.url))?.find((s) => s.id === at.slot);
    if (typeof slot?.n_prompt_tokens !== 'number') return;
    this.#map.record(poolId, route.prompt, at, slot.n_prompt_tokens);
    const text = tail.toString('utf8');
    const computed = /"prompt_n":(\d+)/.exec(text)?.[1];
    const ms = /"prompt_ms":([\d.eE+-]+)/.exec(text)?.[1];
    if (computed === undefined || ms === undefined) return;
    this.#map.observePrefill(poolId, Number(ms), Number(computed));
    const measured = this.#map.prefillMsPerToken(poolId);
    if (measured !== null) this.#metrics.prefillMsPerToken.set({ pool_id: poolId }, measured);
  }

  /**
   * Free the KV cache a conversation left in its engine slot (its session was deleted): the slot is claimed first,
   * so no request runs in it meanwhile. Says how many tokens the engine dropped, or null when no engine held it.
   */
  async erase(poolId: string, cacheKey: string): Promise<number | null> {
    const spot = this.#map.take(poolId, `session:${cacheKey}`);
    const replica = spot === null ? undefined : this.#registry.replicas(poolId).get(spot.replicaId);
    if (spot === null || spot.slot === null || replica === undefined || replica.handoff.pid !== spot.pid) return null;
    const deadline = Date.now() + MAX_WARM_WAIT_MS;
    let guard = this.#claimExactly(poolId, spot);
    while (guard === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, ERASE_POLL_MS));
      guard = this.#claimExactly(poolId, spot);
    }
    if (guard === null) return null;
    try {
      const answer = await engineRequest(this.#agent, `${replica.handoff.url}/slots/${spot.slot}?action=erase`, {
        method: 'POST',
        body: '{}',
        timeoutMs: 5_000,
      });
      const body = (await answer.body.json()) as { n_erased?: unknown };
      return answer.statusCode === 200 && typeof body.n_erased === 'number' ? body.n_erased : null;
    } finally {
      guard.release();
    }
  }
}
