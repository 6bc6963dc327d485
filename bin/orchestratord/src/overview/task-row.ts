import type { OverviewTask } from '@llama-orch/contracts';
import type { Standing } from '../tasks/queue-eta.ts';
import type { Task } from '../tasks/task.ts';
import { taskStatus } from '../tasks/task-status.ts';

/** One task as the page shows it; `until` is now for a live task, its end for a finished one. */
export function overviewTask(task: Task, standing: Standing | undefined, until: number): OverviewTask {
  const status = taskStatus(task, standing, until);
  const first = task.firstTokenAt;
  const decoding = first === null ? 0 : (until - first) / 1000;
  return {
    task_id: task.id,
    state: status.state,
    model: task.spec.model,
    priority: task.spec.priority,
    ...(status.pool_id === undefined ? {} : { pool_id: status.pool_id }),
    tokens_out: status.tokens_out,
    // Tokens after the first, over the time since it: the decode rate, not diluted by the queue or the prefill.
    tokens_per_s:
      first !== null && status.tokens_out > 1 && decoding > 0
        ? Math.round(((status.tokens_out - 1) / decoding) * 10) / 10
        : null,
    first_token_ms: first === null ? null : Math.max(0, first - task.admittedAt),
    age_ms: Math.max(0, until - task.admittedAt),
    ...(status.position === undefined ? {} : { position: status.position }),
    ...(status.outcome === undefined ? {} : { outcome: status.outcome }),
  };
}
