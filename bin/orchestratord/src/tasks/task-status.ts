import type { TaskStateName, TaskStatus } from '@llama-orch/contracts';
import type { Standing } from './queue-eta.ts';
import { outcomeOf, type Task } from './task.ts';

/**
 * Where a task stands (GET /v2/tasks/{id}): while queued its place and predicted start (from its `standing` in the
 * queue), once placed its pool, once done its outcome — the end's finish_reason or the error's code.
 */
export function taskStatus(task: Task, standing: Standing | undefined, now = Date.now()): TaskStatus {
  const last = task.events.at(-1);
  const ended = task.ended && last !== undefined;
  let state: TaskStateName = task.state === 'queued' ? 'queued' : 'running';
  if (ended)
    state =
      last.event === 'error'
        ? 'failed'
        : last.event === 'end' && last.data.finish_reason === 'canceled'
          ? 'canceled'
          : 'ended';
  return {
    task_id: task.id,
    state,
    ...(state === 'queued' && standing !== undefined
      ? { position: standing.position, predicted_start_ms: Math.max(0, Math.round(standing.startAt - now)) }
      : {}),
    ...(task.poolId === null ? {} : { pool_id: task.poolId }),
    tokens_out: task.tokensProduced(),
    ...(last?.event === 'end' && last.data.tokens_in !== undefined ? { tokens_in: last.data.tokens_in } : {}),
    ...(ended ? { outcome: outcomeOf(last) } : {}),
  };
}
