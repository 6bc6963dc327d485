import {
  errorEnvelope,
  SESSION_DEFAULT_MAX_TURNS,
  type ErrorEnvelope,
  type SessionBudget,
  type SessionInfo,
} from '@llama-orch/contracts';

export const SESSION_TTL_MS = 600_000;
export const SESSION_MAX_TURNS = SESSION_DEFAULT_MAX_TURNS;
/** A session's KV cache counts as warm this long after a turn that produced tokens ended (ORCH-4035). */
export const KV_WARM_MS = 120_000;

/** Between an owner and a session id in a store key; neither contains it. */
const OWNER_SEPARATOR = '\u0000';

/**
 * The store key of a client's session: each identity has its own session ids, so one never reaches (or learns of)
 * another's. The scheduler and runner treat it as an opaque session id.
 */
export const sessionKey = (owner: string, sessionId: string): string => `${owner}${OWNER_SEPARATOR}${sessionId}`;
const publicId = (key: string): string => key.slice(key.indexOf(OWNER_SEPARATOR) + 1);

interface Session {
  expiresAt: number;
  /** Turns admitted; one that never reached an engine is given back when it ends. */
  turns: number;
  readonly maxTurns: number;
  readonly tokensBudget: number | null;
  readonly timeBudgetMs: number | null;
  /** Output tokens of ended turns, and the max_tokens of running ones (reserved until they end). */
  tokensUsed: number;
  tokensReserved: number;
  /** Engine time (started → end) of ended turns. */
  timeUsedMs: number;
  poolId: string | null;
  /** When a turn that produced tokens last ended on `poolId`; null when the last turn produced none. */
  warmAt: number | null;
  kvTokens: number | null;
}

/** How an admitted turn ended, for its session's budgets. */
export interface TurnOutcome {
  /** It reached an engine (`started`); a turn that never did is given back. */
  readonly ran: boolean;
  readonly tokensOut: number;
  readonly tokensIn: number | null;
  readonly runMs: number;
}

/** A turn admitted against its session's budgets: settle it once when its task ends, or cancel it if refused. */
export interface SessionTurn {
  readonly tokensRemaining: number | null;
  readonly timeRemainingMs: number | null;
  readonly settle: (outcome: TurnOutcome) => void;
  readonly cancel: () => void;
}

export type TurnAdmission =
  | { readonly kind: 'admitted'; readonly turn: SessionTurn }
  | { readonly kind: 'refused'; readonly envelope: ErrorEnvelope };

const budgetsOf = (budget: SessionBudget | undefined): Pick<Session, 'maxTurns' | 'tokensBudget' | 'timeBudgetMs'> => ({
  maxTurns: budget?.max_turns ?? SESSION_MAX_TURNS,
  tokensBudget: budget?.tokens ?? null,
  timeBudgetMs: budget?.time_ms ?? null,
});
const describeBudgets = (b: Pick<Session, 'maxTurns' | 'tokensBudget' | 'timeBudgetMs'>): string =>
  `max_turns ${b.maxTurns}, tokens ${b.tokensBudget ?? 'none'}, time_ms ${b.timeBudgetMs ?? 'none'}`;
const tokensLeft = (s: Session): number | null =>
  s.tokensBudget === null ? null : Math.max(0, s.tokensBudget - s.tokensUsed - s.tokensReserved);
const timeLeft = (s: Session): number | null =>
  s.timeBudgetMs === null ? null : Math.max(0, s.timeBudgetMs - s.timeUsedMs);

/**
 * Session metadata only (no prompts): TTL from last use, turns and budgets (enforced at admission), the pool the
 * last turn ran on (affinity) and what it left in that pool's KV cache.
 */
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

  #create(id: string, budget: SessionBudget | undefined): Session {
    const session: Session = {
      expiresAt: this.#now() + SESSION_TTL_MS,
      turns: 0,
      ...budgetsOf(budget),
      tokensUsed: 0,
      tokensReserved: 0,
      timeUsedMs: 0,
      poolId: null,
      warmAt: null,
      kvTokens: null,
    };
    this.#sessions.set(id, session);
    return session;
  }

  /** The session is used: its TTL starts again (created with the default budgets if unknown). */
  touch(id: string): void {
    const session = this.#live(id) ?? this.#create(id, undefined);
    session.expiresAt = this.#now() + SESSION_TTL_MS;
  }

  affinity(id: string | undefined): string | undefined {
    return id === undefined ? undefined : (this.#live(id)?.poolId ?? undefined);
  }

  /** The tokens the session's last turn left in its pool's KV cache, while it counts as warm; else null. */
  warmTokens(id: string | undefined): number | null {
    const session = id === undefined ? null : this.#live(id);
    if (session?.warmAt === null || session?.warmAt === undefined || session.kvTokens === null) return null;
    return this.#now() - session.warmAt <= KV_WARM_MS ? session.kvTokens : null;
  }

  /**
   * Admit one turn: refused with 429 BUDGET_EXCEEDED naming the budget when it would pass max_turns, when its
   * max_tokens is more than the tokens budget has left, or when the time budget is used up. `budget` sets the
   * budgets of a new session; for a live one it may only repeat them (else 400 INVALID_PARAMS).
   */
  admit(id: string, budget: SessionBudget | undefined, maxTokens: number): TurnAdmission {
    const live = this.#live(id);
    const name = publicId(id);
    if (live !== null && budget !== undefined) {
      const asked = budgetsOf(budget);
      if (describeBudgets(asked) !== describeBudgets(live))
        return {
          kind: 'refused',
          envelope: errorEnvelope(
            'INVALID_PARAMS',
            `session_budget: session ${name} has its budgets from its first turn (${describeBudgets(live)}); a later turn may repeat them, not change them (${describeBudgets(asked)})`,
          ),
        };
    }
    const session = live ?? this.#create(id, budget);
    const refuse = (field: string, message: string): TurnAdmission => ({
      kind: 'refused',
      envelope: errorEnvelope('BUDGET_EXCEEDED', `session_budget.${field}: session ${name} ${message}`),
    });
    if (session.turns >= session.maxTurns)
      return refuse('max_turns', `has had its ${session.maxTurns} turns; delete it or start another session`);
    const tokens = tokensLeft(session);
    if (tokens !== null && maxTokens > tokens)
      return refuse(
        'tokens',
        `has ${tokens} of its ${session.tokensBudget ?? 0} tokens left, fewer than this turn's max_tokens ${maxTokens}`,
      );
    const time = timeLeft(session);
    if (time === 0)
      return refuse('time_ms', `has used its time budget (${session.timeUsedMs} of ${session.timeBudgetMs ?? 0} ms)`);
    session.turns += 1;
    session.tokensReserved += maxTokens;
    session.expiresAt = this.#now() + SESSION_TTL_MS;
    let open = true;
    const close = (): boolean => {
      if (!open) return false;
      open = false;
      session.tokensReserved -= maxTokens;
      // Deleted or expired meanwhile: its budgets went with it.
      return this.#sessions.get(id) === session;
    };
    return {
      kind: 'admitted',
      turn: {
        tokensRemaining: tokensLeft(session),
        timeRemainingMs: timeLeft(session),
        cancel: () => {
          if (close()) session.turns -= 1;
        },
        settle: (outcome) => {
          if (!close()) return;
          if (!outcome.ran) {
            session.turns -= 1;
            return;
          }
          session.tokensUsed += outcome.tokensOut;
          session.timeUsedMs += outcome.runMs;
          session.kvTokens = outcome.tokensIn === null ? null : outcome.tokensIn + outcome.tokensOut;
          session.expiresAt = this.#now() + SESSION_TTL_MS;
        },
      },
    };
  }

  /** A turn ended on `poolId`; the KV cache there is warm when it produced tokens. */
  recordTurn(id: string, poolId: string | null, producedTokens: boolean): void {
    const session = this.#live(id);
    if (session === null || poolId === null) return;
    session.poolId = poolId;
    session.warmAt = producedTokens ? this.#now() : null;
  }

  /**
   * `poolServes`: whether a pool is reachable, ready and not draining now (for kv_warmth); `kvBytesPerToken`: what
   * one token of KV cache takes on a pool (its PoolStatus), for kv_bytes.
   */
  info(
    id: string,
    poolServes: (poolId: string) => boolean = () => true,
    kvBytesPerToken: (poolId: string) => number | null = () => null,
  ): SessionInfo | null {
    const session = this.#live(id);
    if (session === null) return null;
    const now = this.#now();
    const warm =
      session.poolId !== null &&
      session.warmAt !== null &&
      now - session.warmAt <= KV_WARM_MS &&
      poolServes(session.poolId);
    return {
      session_id: publicId(id),
      ttl_ms_remaining: Math.max(0, session.expiresAt - now),
      turns: session.turns,
      max_turns: session.maxTurns,
      kv_warmth: warm,
      kv_bytes: (() => {
        const perToken = session.poolId === null ? null : kvBytesPerToken(session.poolId);
        return perToken === null || session.kvTokens === null ? null : perToken * session.kvTokens;
      })(),
      kv_tokens: session.kvTokens,
      pool_id: session.poolId,
      tokens_used: session.tokensUsed + session.tokensReserved,
      tokens_budget_remaining: tokensLeft(session),
      time_used_ms: session.timeUsedMs,
      time_budget_remaining_ms: timeLeft(session),
    };
  }

  delete(id: string): boolean {
    const live = this.#live(id) !== null;
    this.#sessions.delete(id);
    return live;
  }
}
