import type { OperationSpec } from './document.ts';

/** Issue 20: what the operator page (/ui) shows, as JSON once or as a stream that the page follows. */
export const overviewOperations: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/v2/overview',
    operationId: 'getOverview',
    summary:
      'Nodes and pools, the queue (depth per priority, oldest wait, next predicted start, 429s in the last minute), live and recently finished tasks, and throughput per second over the last 5 minutes. Tasks of other identities are shown to admins only.',
    tags: ['meta'],
    responses: {
      200: { description: 'The overview.', json: 'Overview' },
      401: { description: 'Missing or unknown API key (CLOUD profile).', json: 'ErrorEnvelope' },
    },
  },
  {
    method: 'get',
    path: '/v2/overview/events',
    operationId: 'streamOverview',
    summary:
      'The overview once a second as `overview` events: the first carries 5 minutes of throughput, each later one only the seconds added since. A stream ends after 60 s (the client opens the next, with its credentials checked again) and when orchestratord stops; at most 8 per client identity.',
    tags: ['meta'],
    responses: {
      200: { description: 'The overview stream.', sse: 'Overview' },
      401: { description: 'Missing or unknown API key (CLOUD profile).', json: 'ErrorEnvelope' },
      429: {
        description: 'This client already holds 8 overview streams (TOO_MANY_STREAMS); retry after the advised delay.',
        json: 'ErrorEnvelope',
        headers: ['Retry-After', 'X-Backoff-Ms'],
      },
    },
  },
];
