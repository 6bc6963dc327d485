import type { OperationSpec } from './document.ts';

/** Issue 21: who used how much, from the usage ledger, and where each stands against its daily budget. */
export const usageOperations: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/v2/usage',
    operationId: 'getUsage',
    summary:
      'Usage per identity and model since `since` (ISO 8601 or ms since the epoch; default the start of the UTC day) until `until` (default now): tasks, tokens in and out, engine time and GPU-seconds, with today’s budget standing. A client sees its own identity only; an admin sees every identity, or the one named by `identity`.',
    tags: ['meta'],
    responses: {
      200: { description: 'The usage report.', json: 'UsageReport' },
      400: { description: 'A bad `since`, `until` or `identity`; the message names it.', json: 'ErrorEnvelope' },
      401: { description: 'Missing or unknown API key (CLOUD profile).', json: 'ErrorEnvelope' },
      503: {
        description: 'No journal is configured (ORCHD_DATABASE_URL), or it cannot be read now (JOURNAL_UNAVAILABLE).',
        json: 'ErrorEnvelope',
      },
    },
  },
];
