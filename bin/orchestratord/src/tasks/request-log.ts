import type { Logger } from 'pino';
import { outcomeOf, type Task } from './task.ts';

/** The request log: one line per task, whatever ended it (`llorch logs --requests` reads it). */
export function logFinished(log: Logger, task: Task): void {
  const last = task.events.at(-1);
  const now = Date.now();
  const end = last?.event === 'end' ? last.data : null;
  log.info(
    {
      task_id: task.id,
      model: task.spec.model,
      priority: task.spec.priority,
      pool_id: task.poolId,
      outcome: last === undefined ? 'unknown' : outcomeOf(last),
      ...(last?.event === 'end' ? { finish_reason: last.data.finish_reason ?? 'stop' } : {}),
      ...(last?.event === 'error' ? { code: last.data.code } : {}),
      tokens_in: end?.tokens_in ?? null,
      tokens_out: task.tokensProduced(),
      queue_ms: (task.startedAt ?? now) - task.admittedAt,
      first_token_ms: task.firstTokenAt === null ? null : task.firstTokenAt - task.admittedAt,
      decode_ms: end?.decode_ms ?? null,
      duration_ms: now - task.admittedAt,
      // What reproduces it (ORCH-4037): the seed and sampler profile it asked for, the build that ran it.
      ...(task.spec.hints === undefined
        ? {}
        : {
            determinism: task.spec.hints.determinism,
            seed: task.spec.hints.seed ?? null,
            sampler_profile_version: task.spec.hints.sampler_profile_version ?? null,
          }),
      engine_version: task.build?.engine_version ?? null,
      model_digest: task.build?.model_digest ?? null,
    },
    'task finished',
  );
}
