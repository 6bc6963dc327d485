import { errorEnvelope, type BudgetStanding, type ErrorEnvelope } from '@llama-orch/contracts';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Identity } from '../http/auth/identity.ts';
import type { Task } from '../tasks/task.ts';
import { WatchedFile, type Parsed } from '../watched-file.ts';
import type { JournalStore, Settlement } from './records.ts';

const DAY_MS = 86_400_000;

const LimitsSchema = z.strictObject({
  /** Output tokens per UTC day (what max_tokens bounds); null or absent: no limit. */
  tokens_per_day: z.int().min(0).nullable().optional(),
  /** Slot time × GPUs per UTC day, in seconds; null or absent: no limit. */
  gpu_seconds_per_day: z.number().min(0).nullable().optional(),
});
export type Limits = z.infer<typeof LimitsSchema>;

const BudgetsFileSchema = z.strictObject({
  /** Limits for every identity not named below. */
  default: LimitsSchema.optional(),
  /** By identity label, as the logs and `llorch usage` show it: `key:1a2b3c`, `oidc:alice`, `anonymous`. */
  identities: z.record(z.string().min(1), LimitsSchema).default({}),
});
export type BudgetRules = z.infer<typeof BudgetsFileSchema>;

export function parseBudgets(text: string): Parsed<BudgetRules> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `is not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  const parsed = BudgetsFileSchema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.join('.');
  return { ok: false, message: `${where}: ${issue?.message ?? 'invalid'}` };
}

/** The UTC day `at` falls in, and its bounds. */
export function utcDay(at: number): { readonly day: string; readonly start: number; readonly end: number } {
  const start = Math.floor(at / DAY_MS) * DAY_MS;
  return { day: new Date(start).toISOString().slice(0, 10), start, end: start + DAY_MS };
}

/** What admission holds for a task under a budget: settled to the actual count when it ends, or given back. */
export interface Reservation {
  readonly budget: { readonly day: string; readonly tokens: number } | undefined;
  /** The task was refused after all (queue full): give the whole reservation back. */
  release(): void;
  /** The task ended: keep what it produced, give back the rest, add its GPU time. */
  settle(task: Task): void;
}

const NONE: Reservation = { budget: undefined, release: () => undefined, settle: () => undefined };

/**
 * Daily budgets per identity (ORCHD_BUDGETS_FILE, re-read when it changes), enforced at admission by an atomic
 * reservation in the journal's store: a task reserves its max_tokens before it is queued, and the reservation is
 * settled to the tokens it produced when it ends. Concurrent requests, on one replica or several sharing
 * PostgreSQL, can never commit more than the budget. GPU-seconds are known only once a task ends: a task is refused
 * once the day's are used up, so tasks already running when that happens can pass the limit by their own time.
 */
export class Budgets {
  readonly #file: WatchedFile<BudgetRules> | null;
  readonly #store: JournalStore | null;
  readonly #log: Logger;
  readonly #settle: ((settlement: Settlement) => void) | null;

  /**
   * `settle` queues a settlement with the journal's next batch (with the task's terminal record); without it a
   * settlement goes to the store at once.
   */
  constructor(options: {
    path: string | undefined;
    store: JournalStore | null;
    log: Logger;
    settle?: (settlement: Settlement) => void;
  }) {
    this.#store = options.store;
    this.#log = options.log;
    this.#settle = options.settle ?? null;
    this.#file =
      options.path === undefined
        ? null
        : new WatchedFile({
            path: options.path,
            variable: 'ORCHD_BUDGETS_FILE',
            what: 'budgets file',
            parse: parseBudgets,
            describe: (rules) => ({ identities: Object.keys(rules.identities).length, default: rules.default ?? null }),
            log: options.log,
          });
  }

  async start(): Promise<void> {
    await this.#file?.start();
  }

  stop(): void {
    this.#file?.stop();
  }

  /** The limits that apply to an identity label, or null when none does. */
  limitsOf(identity: string): Limits | null {
    if (this.#file === null) return null;
    const rules = this.#file.value;
    const limits = rules.identities[identity] ?? rules.default ?? null;
    if (limits === null) return null;
    return (limits.tokens_per_day ?? null) === null && (limits.gpu_seconds_per_day ?? null) === null ? null : limits;
  }

  /** Reserve `tokens` (the task's max_tokens) against the identity's day, or say which budget refuses it. */
  async reserve(
    identity: Identity,
    tokens: number,
    now = Date.now(),
  ): Promise<{ ok: true; reservation: Reservation } | { ok: false; envelope: ErrorEnvelope }> {
    const limits = this.limitsOf(identity.label);
    if (limits === null || this.#store === null) return { ok: true, reservation: NONE };
    const { day, start, end } = utcDay(now);
    const tokenLimit = limits.tokens_per_day ?? null;
    const gpuLimit = limits.gpu_seconds_per_day ?? null;
    const store = this.#store;
    const held = await store.reserve({
      owner: identity.owner,
      day,
      dayStart: start,
      dayEnd: end,
      tokens,
      tokenLimit,
      gpuMsLimit: gpuLimit === null ? null : Math.round(gpuLimit * 1000),
    });
    if (held === null) {
      const used = await store.budgetDay(identity.owner, day);
      const resets = new Date(end).toISOString();
      const which =
        gpuLimit !== null && used.gpu_ms >= gpuLimit * 1000
          ? `the daily GPU-seconds budget of ${identity.label} is used up (${(used.gpu_ms / 1000).toFixed(1)} of ${gpuLimit} s)`
          : `max_tokens ${tokens} would pass the daily token budget of ${identity.label} (${used.tokens} of ${tokenLimit ?? 0} used or reserved)`;
      return {
        ok: false,
        envelope: errorEnvelope('BUDGET_EXCEEDED', `${which}; it resets at ${resets}`, {
          retriable: true,
          retry_after_ms: Math.max(1, end - now),
        }),
      };
    }
    let settled = false;
    const giveBack = (tokensBack: number, gpuMs: number): void => {
      if (settled) return;
      settled = true;
      if (tokensBack === 0 && gpuMs <= 0) return;
      const settlement: Settlement = { owner: identity.owner, day, tokens_back: tokensBack, gpu_ms: gpuMs };
      if (this.#settle !== null) {
        this.#settle(settlement);
        return;
      }
      store.settle(settlement).catch((error: unknown) => {
        this.#log.error({ err: error, identity: identity.label, day }, 'budget settlement failed');
      });
    };
    return {
      ok: true,
      reservation: {
        budget: { day, tokens },
        release: () => giveBack(tokens, 0),
        // What it did not produce goes back; what it produced past the reservation (an engine that overran) is charged.
        settle: (task) => {
          const engineMs = task.startedAt === null ? 0 : Date.now() - task.startedAt;
          giveBack(tokens - task.tokensProduced(), engineMs * (task.placedOn?.gpus ?? 0));
        },
      },
    };
  }

  /** Today's standing of an identity that has a budget; null for one without. */
  async standing(identity: string, owner: string, now = Date.now()): Promise<BudgetStanding | null> {
    const limits = this.limitsOf(identity);
    if (limits === null || this.#store === null) return null;
    const { day, end } = utcDay(now);
    const used = await this.#store.budgetDay(owner, day);
    return {
      identity,
      day,
      tokens: used.tokens,
      tokens_per_day: limits.tokens_per_day ?? null,
      gpu_seconds: used.gpu_ms / 1000,
      gpu_seconds_per_day: limits.gpu_seconds_per_day ?? null,
      resets_at: new Date(end).toISOString(),
    };
  }
}
