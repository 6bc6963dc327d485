import { errorEnvelope, type BudgetStanding, type UsageReport } from '@llama-orch/contracts';
import { sendError } from '@llama-orch/http';
import type { Hono } from 'hono';
import { utcDay } from '../../journal/budgets.ts';
import type { AppDeps, AppEnv } from '../deps.ts';

/** A time bound of the query: ISO 8601 or ms since the epoch; undefined when absent, null when unreadable. */
function instant(value: string | undefined): number | null | undefined {
  if (value === undefined || value === '') return undefined;
  // Dates are defined to ±8.64e15 ms (year 275760); past that toISOString throws.
  if (/^\d+$/.test(value)) return Number(value) <= 8.64e15 ? Number(value) : null;
  // ISO 8601 only: Date.parse alone would read `x 1` as the year 2001.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return null;
  const at = Date.parse(value);
  return Number.isFinite(at) && at >= 0 ? at : null;
}

/**
 * GET /v2/usage: the usage ledger summed per identity and model since a time (default: the start of the UTC day),
 * with today's budget standing. A client sees only its own identity; an admin all, or the one named by ?identity=.
 */
export function usageRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get('/v2/usage', async (c) => {
    const journal = deps.journal;
    if (journal === null)
      return sendError(
        c,
        errorEnvelope('JOURNAL_UNAVAILABLE', 'no usage ledger: orchestratord runs without ORCHD_DATABASE_URL'),
      );
    const now = Date.now();
    const since = instant(c.req.query('since'));
    const until = instant(c.req.query('until'));
    if (since === null)
      return sendError(c, errorEnvelope('INVALID_PARAMS', 'since: must be an ISO 8601 time or ms since the epoch'));
    if (until === null)
      return sendError(c, errorEnvelope('INVALID_PARAMS', 'until: must be an ISO 8601 time or ms since the epoch'));
    const from = since ?? utcDay(now).start;
    const to = until ?? now + 1;
    if (to <= from) return sendError(c, errorEnvelope('INVALID_PARAMS', 'until: must be after since'));
    const caller = c.get('identity');
    const asked = c.req.query('identity');
    if (asked !== undefined && caller.role !== 'admin' && asked !== caller.label)
      return sendError(c, errorEnvelope('FORBIDDEN', `identity: a client sees only its own usage (${caller.label})`));
    let sums;
    try {
      sums = await journal.usage({
        since: from,
        until: to,
        owner: caller.role === 'admin' ? undefined : caller.owner,
        identity: asked === '' ? undefined : asked,
      });
    } catch (error) {
      c.get('log').error({ err: error }, 'the journal failed: read the usage ledger');
      return sendError(c, errorEnvelope('JOURNAL_UNAVAILABLE', 'the usage ledger cannot be read now'));
    }
    // The budget of each identity in the report, and the caller's own even before it has used anything.
    const owners = new Map(sums.map((s) => [s.identity, s.owner]));
    if (caller.role !== 'admin' || asked === caller.label) owners.set(caller.label, caller.owner);
    const budgets: BudgetStanding[] = [];
    for (const [identity, owner] of owners) {
      const standing = await deps.budgets.standing(identity, owner, now).catch(() => null);
      if (standing !== null) budgets.push(standing);
    }
    const report: UsageReport = {
      since: new Date(from).toISOString(),
      until: new Date(to).toISOString(),
      totals: sums.map((s) => ({
        identity: s.identity,
        model: s.model,
        tasks: s.tasks,
        tokens_in: s.tokens_in,
        tokens_out: s.tokens_out,
        engine_ms: s.engine_ms,
        gpu_seconds: s.gpu_ms / 1000,
      })),
      budgets,
    };
    return c.json(report, 200);
  });
}
