import type { TaskEvent, TaskStateName, TaskStatus } from '@llama-orch/contracts';
import type { TaskRecord } from './records.ts';

/** The state a terminal event leaves a task in. */
export function journalState(end: TaskEvent): TaskStateName {
  if (end.event === 'error') return 'failed';
  return end.event === 'end' && end.data.finish_reason === 'canceled' ? 'canceled' : 'ended';
}

/** GET /v2/tasks/{id} from the journal: a task this orchestratord no longer holds (a restart, another replica). */
export function journalStatus(record: TaskRecord): TaskStatus {
  return {
    task_id: record.task_id,
    state: record.state,
    ...(record.pool_id === null ? {} : { pool_id: record.pool_id }),
    tokens_out: record.tokens_out,
    ...(record.tokens_in === null ? {} : { tokens_in: record.tokens_in }),
    ...(record.outcome === null ? {} : { outcome: record.outcome }),
  };
}
