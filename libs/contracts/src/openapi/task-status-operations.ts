import type { OperationSpec } from './document.ts';

/** Issue 19: where a task stands, for a client waiting in the queue (its place and predicted start). */
export const taskStatusOperations: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/v2/tasks/{id}',
    operationId: 'getTask',
    summary:
      'Where a task stands: state; while queued its position and predicted_start_ms (from now, from measured service times); once placed its pool_id; tokens_out; once done its outcome. Its owner and admins only.',
    tags: ['tasks'],
    responses: {
      200: { description: 'The task.', json: 'TaskStatus' },
      401: { description: 'Missing or unknown API key (CLOUD profile).', json: 'ErrorEnvelope' },
      404: { description: 'Unknown task, or not the caller’s (NOT_FOUND).', json: 'ErrorEnvelope' },
    },
  },
];
