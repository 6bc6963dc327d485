import { request } from 'undici';
import type { LlorchEnv } from '../config.ts';
import { authHeaders } from './status.ts';

/**
 * Ask orchestratord to cancel a task (`POST /v2/tasks/{id}/cancel`; a /v1 completion's id is its task id), so that
 * it stops at once instead of after the reconnect grace. Best effort: the task may have ended already.
 */
export async function cancelTask(env: LlorchEnv, taskId: string): Promise<void> {
  const answer = await request(`${env.url}/v2/tasks/${encodeURIComponent(taskId)}/cancel`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders(env) },
    body: '{}',
    signal: AbortSignal.timeout(5_000),
  }).catch(() => null);
  await answer?.body.dump().catch(() => undefined);
}
