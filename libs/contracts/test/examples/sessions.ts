/** Session budgets and the session answer. */
import type { ShapeExamples } from './shape-examples.ts';

const session = {
  session_id: 's-1',
  ttl_ms_remaining: 600000,
  turns: 2,
  max_turns: 8,
  kv_warmth: true,
  kv_bytes: null,
  kv_tokens: 112,
  pool_id: 'demo',
  tokens_used: 96,
  tokens_budget_remaining: 904,
  time_used_ms: 180,
  time_budget_remaining_ms: null,
};

export const sessionsExamples: Record<string, ShapeExamples> = {
  SessionBudget: {
    valid: [
      { name: 'no budgets (the defaults)', value: {} },
      { name: 'every budget', value: { max_turns: 20, tokens: 4000, time_ms: 60000 } },
    ],
    invalid: [
      { name: 'zero turns', value: { max_turns: 0 }, field: 'max_turns' },
      { name: 'fractional tokens', value: { tokens: 1.5 }, field: 'tokens' },
      { name: 'a cost budget (no cost model)', value: { cost: 1 }, field: 'cost' },
    ],
  },
  SessionInfo: {
    valid: [
      { name: 'a warm session with a tokens budget', value: session },
      { name: 'a new session', value: { ...session, turns: 0, kv_warmth: false, kv_tokens: null, pool_id: null } },
    ],
    invalid: [
      { name: 'a negative ttl', value: { ...session, ttl_ms_remaining: -5 }, field: 'ttl_ms_remaining' },
      { name: 'no kv_bytes', value: { ...session, kv_bytes: undefined }, field: 'kv_bytes' },
    ],
  },
};
