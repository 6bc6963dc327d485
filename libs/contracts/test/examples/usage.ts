/** The usage ledger's report and budget standings (issue 21). */
import { NOW, type ShapeExamples } from './shape-examples.ts';

const total = {
  identity: 'key:1a2b3c',
  model: 'demo',
  tasks: 3,
  tokens_in: 120,
  tokens_out: 384,
  engine_ms: 2150,
  gpu_seconds: 4.3,
};
const standing = {
  identity: 'key:1a2b3c',
  day: '2026-11-22',
  tokens: 434,
  tokens_per_day: 1000,
  gpu_seconds: 4.3,
  gpu_seconds_per_day: null,
  resets_at: '2026-11-23T00:00:00.000Z',
};

export const usageExamples: Record<string, ShapeExamples> = {
  UsageTotal: {
    valid: [
      { name: 'three tasks on a GPU pool', value: total },
      { name: 'a correction that takes tokens back', value: { ...total, tasks: 0, tokens_out: -12, gpu_seconds: 0 } },
    ],
    invalid: [
      { name: 'no identity', value: { ...total, identity: '' }, field: 'identity' },
      { name: 'fractional tokens', value: { ...total, tokens_out: 1.5 }, field: 'tokens_out' },
    ],
  },
  BudgetStanding: {
    valid: [
      { name: 'a token budget, partly used', value: standing },
      { name: 'GPU-seconds only', value: { ...standing, tokens_per_day: null, gpu_seconds_per_day: 3600 } },
    ],
    invalid: [
      { name: 'a day that is not a date', value: { ...standing, day: 'today' }, field: 'day' },
      { name: 'negative tokens', value: { ...standing, tokens: -1 }, field: 'tokens' },
    ],
  },
  UsageReport: {
    valid: [
      { name: 'one identity', value: { since: NOW, until: NOW, totals: [total], budgets: [standing] } },
      { name: 'nothing used', value: { since: NOW, until: NOW, totals: [], budgets: [] } },
    ],
    invalid: [{ name: 'no totals', value: { since: NOW, until: NOW, budgets: [] }, field: 'totals' }],
  },
};
