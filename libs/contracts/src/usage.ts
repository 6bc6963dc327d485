import { z } from 'zod';
import { named } from './registry.ts';

export const UsageTotalSchema = named(
  z.strictObject({
    /** Who used it: an API key's fingerprint (`key:1a2b3c`), an OIDC subject (`oidc:alice`) or `anonymous`. */
    identity: z.string().min(1),
    model: z.string().min(1),
    /** Tasks that reached an engine. */
    tasks: z.int().min(0),
    tokens_in: z.int(),
    tokens_out: z.int(),
    /** Slot time on the engines (ms): from the pool's accept to the task's end. */
    engine_ms: z.int(),
    /** Slot time × the GPUs of the pool that ran it (0 on CPU pools). */
    gpu_seconds: z.number(),
  }),
  'UsageTotal',
  'Usage of one identity on one model over the window, summed from the append-only ledger (corrections included).',
);
export type UsageTotal = z.infer<typeof UsageTotalSchema>;

export const BudgetStandingSchema = named(
  z.strictObject({
    identity: z.string().min(1),
    /** The UTC day the figures are for (YYYY-MM-DD); daily budgets reset at its end. */
    day: z.iso.date(),
    /** Output tokens used today plus those reserved by tasks still running (their max_tokens). */
    tokens: z.int().min(0),
    tokens_per_day: z.int().min(0).nullable(),
    gpu_seconds: z.number().min(0),
    gpu_seconds_per_day: z.number().min(0).nullable(),
    resets_at: z.iso.datetime(),
  }),
  'BudgetStanding',
  'Where an identity stands against its daily budget (ORCHD_BUDGETS_FILE).',
);
export type BudgetStanding = z.infer<typeof BudgetStandingSchema>;

export const UsageReportSchema = named(
  z.strictObject({
    since: z.iso.datetime(),
    until: z.iso.datetime(),
    totals: z.array(UsageTotalSchema),
    /** The budgets of the identities reported, where one is configured. */
    budgets: z.array(BudgetStandingSchema),
  }),
  'UsageReport',
  'Answer of GET /v2/usage: usage per identity and model since a time, and today’s budget standing. A client sees only its own identity; an admin sees all, or the one named by ?identity=.',
);
export type UsageReport = z.infer<typeof UsageReportSchema>;
