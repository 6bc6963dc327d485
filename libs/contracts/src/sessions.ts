import { z } from 'zod';
import { ClientIdSchema, ResourceIdSchema } from './ids.ts';
import { named } from './registry.ts';

/** The contract's default turn limit of a session (ORCH-3021 of the reference design). */
export const SESSION_DEFAULT_MAX_TURNS = 8;

export const SessionBudgetSchema = named(
  z.strictObject({
    max_turns: z.int().min(1).max(10_000).optional(),
    tokens: z.int().min(1).max(1_000_000_000).optional(),
    time_ms: z
      .int()
      .min(1)
      .max(2 ** 31 - 1)
      .optional(),
  }),
  'SessionBudget',
  `Budgets of a session, set by the request that creates it (max_turns defaults to ${SESSION_DEFAULT_MAX_TURNS}; ` +
    'no tokens or time budget unless given). tokens: output tokens over all turns; a turn whose max_tokens would ' +
    'pass what is left is refused. time_ms: engine time (started → end) over all turns. Exceeded: 429 BUDGET_EXCEEDED.',
);
export type SessionBudget = z.infer<typeof SessionBudgetSchema>;

export const SessionInfoSchema = named(
  z.strictObject({
    session_id: ClientIdSchema,
    ttl_ms_remaining: z.int().min(0),
    turns: z.int().min(0),
    max_turns: z.int().min(1),
    kv_warmth: z.boolean(),
    /** Bytes of KV cache the session holds: null, no engine status reports a slot's KV bytes. */
    kv_bytes: z.int().min(0).nullable(),
    /** Tokens the last turn left in its pool's context (prompt + output, by the engine's count). */
    kv_tokens: z.int().min(0).nullable(),
    pool_id: ResourceIdSchema.nullable(),
    tokens_used: z.int().min(0),
    tokens_budget_remaining: z.int().min(0).nullable(),
    time_used_ms: z.int().min(0),
    time_budget_remaining_ms: z.int().min(0).nullable(),
  }),
  'SessionInfo',
  'Answer of GET /v2/sessions/{id}. kv_warmth: the last turn produced tokens on pool_id, ended within 120 s, and that ' +
    'pool is still reachable, ready and not draining. kv_bytes is null: no status reports the KV bytes of a slot; ' +
    'kv_tokens is what the last turn left in the context. A budget remaining is null when the session has no such ' +
    'budget; tokens reserved by running turns (their max_tokens) count as used until they end.',
);
export type SessionInfo = z.infer<typeof SessionInfoSchema>;
