import type { SessionInfo } from '@llama-orch/contracts';

export const SESSION_TTL_MS = 600_000;
export const SESSION_MAX_TURNS = 8;

/** Between an owner and a session id in a store key; neither contains it. */
const OWNER_SEPARATOR = '\u0000';

/**
 * The store key of a client's session: each identity has its own session ids, so one never reaches (or learns of)
 * another's. The scheduler and runner treat it as an opaque session id.
 */
export const sessionKey = (owner: string, sessionId: string): string => `${owner}${OWNER_SEPARATOR}${sessionId}`;

interface Session {
  expiresAt: number;
  turns: number;
  poolId: string | null;
  kvWarm: boolean;
}

/** Session metadata only (no prompts): TTL from last use, turns, the pool it last ran on (for KV reuse). */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #live(id: string): Session | null {
    const session = this.#sessions.get(id);
    if (session === undefined) return null;
    if (session.expiresAt <= this.#now()) {
      this.#sessions.delete(id);
      return null;
    }
    return session;
  }

  touch(id: string): void {
    const session = this.#live(id) ?? { expiresAt: 0, turns: 0, poolId: null, kvWarm: false };
    session.expiresAt = this.#now() + SESSION_TTL_MS;
    this.#sessions.set(id, session);
  }

  affinity(id: string | undefined): string | undefined {
    return id === undefined ? undefined : (this.#live(id)?.poolId ?? undefined);
  }

  /** A turn ended on `poolId`; the KV cache there is warm when it produced tokens. */
  recordTurn(id: string, poolId: string | null, producedTokens: boolean): void {
    this.touch(id);
    const session = this.#live(id);
    if (session === null) return;
    session.turns += 1;
    if (poolId !== null) {
      session.kvWarm = producedTokens;
      session.poolId = poolId;
    }
  }

  info(id: string): SessionInfo | null {
    const session = this.#live(id);
    if (session === null) return null;
    return {
      session_id: id.slice(id.indexOf(OWNER_SEPARATOR) + 1),
      ttl_ms_remaining: Math.max(0, session.expiresAt - this.#now()),
      turns: session.turns,
      max_turns: SESSION_MAX_TURNS,
      kv_warmth: session.kvWarm,
      pool_id: session.poolId,
      tokens_budget_remaining: null,
      time_budget_remaining_ms: null,
    };
  }

  delete(id: string): boolean {
    const live = this.#live(id) !== null;
    this.#sessions.delete(id);
    return live;
  }
}
