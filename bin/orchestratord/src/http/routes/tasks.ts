import { randomUUID } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { errorEnvelope, TaskRequestSchema, type TaskRequest } from '@llama-orch/contracts';
import { followTask } from '../follow-task.ts';
import { sessionKey } from '../../tasks/sessions.ts';
import type { Task, TaskSpec } from '../../tasks/task.ts';
import { mayAccess } from '../auth/index.ts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { readBody, sendError } from '@llama-orch/http';

/** The engine request for a native task: llama.cpp's /completion for a prompt, chat completions for messages. */
export function nativeEngineRequest(task: TaskRequest): TaskSpec['engine'] {
  const sampling = Object.fromEntries(
    (['seed', 'temperature', 'top_p', 'top_k', 'min_p', 'stop', 'ignore_eos', 'grammar'] as const).flatMap((key) =>
      task[key] === undefined ? [] : [[key, task[key]]],
    ),
  );
  if (task.messages !== undefined) {
    return {
      endpoint: '/v1/chat/completions',
      body: {
        ...sampling,
        messages: task.messages,
        max_tokens: task.max_tokens,
        stream: true,
        stream_options: { include_usage: true },
      },
    };
  }
  return {
    endpoint: '/completion',
    body: { ...sampling, prompt: task.prompt ?? '', n_predict: task.max_tokens, stream: true },
  };
}

/** The task if the caller may reach it (its owner, an admin); anyone else learns nothing, not even that it exists. */
export function reachableTask(c: Context<AppEnv>, deps: AppDeps, taskId: string): Task | undefined {
  const task = deps.scheduler.task(taskId);
  return task !== undefined && mayAccess(c.get('identity'), task.spec.owner) ? task : undefined;
}

/** Write task events as SSE (replay, then follow), with keep-alives; a client that leaves cancels the task. */
export function streamTaskEvents(c: Context<AppEnv>, deps: AppDeps, taskId: string): Response {
  const task = reachableTask(c, deps, taskId);
  if (task === undefined) return sendError(c, errorEnvelope('NOT_FOUND', `no task ${taskId}`));
  const held = deps.streams.open(c.get('identity'));
  if (!held.ok) return sendError(c, held.envelope);
  return streamSSE(c, async (stream) => {
    const keepAlive = setInterval(() => void stream.write(': keep-alive\n\n'), deps.sseKeepAliveMs);
    stream.onAbort(held.release);
    try {
      await followTask(stream, task, deps.scheduler.follow(task), async (event) => {
        await stream.writeSSE({ event: event.event, data: JSON.stringify(event.data) });
        return event.event === 'end' || event.event === 'error' ? 'done' : 'more';
      });
    } finally {
      clearInterval(keepAlive);
      held.release();
    }
  });
}

export function taskRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post('/v2/tasks', async (c) => {
    const body = await readBody(c, TaskRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const request = body.value;
    const id = request.task_id ?? randomUUID();
    const owner = c.get('identity').owner;
    const admission = deps.scheduler.submit({
      id,
      owner,
      model: request.model_ref,
      priority: request.priority,
      sessionId: request.session_id === undefined ? undefined : sessionKey(owner, request.session_id),
      deadlineMs: request.deadline_ms,
      placement: request.placement,
      engine: nativeEngineRequest(request),
    });
    if (admission.kind === 'refused') return sendError(c, admission.envelope);
    return c.json(
      {
        task_id: id,
        queue_position: admission.position,
        predicted_start_ms: admission.predictedStartMs,
        backoff_ms: 0,
        streams: { sse: `/v2/tasks/${id}/events` },
      },
      202,
    );
  });

  app.get('/v2/tasks/:id/events', (c) => streamTaskEvents(c, deps, c.req.param('id')));

  app.post('/v2/tasks/:id/cancel', (c) => {
    const id = c.req.param('id');
    const task = reachableTask(c, deps, id);
    if (task === undefined || !deps.scheduler.cancel(id, 'client'))
      return sendError(c, errorEnvelope('NOT_FOUND', `no task ${id}`));
    const identity = c.get('identity');
    // A control action: who did it goes with it (an admin's cancel of another identity's task most of all).
    c.get('log').info(
      { task_id: id, identity: identity.label, role: identity.role, own_task: task.spec.owner === identity.owner },
      'task canceled',
    );
    return c.body(null, 204);
  });
}
