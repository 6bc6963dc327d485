import { randomUUID } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { errorEnvelope, TaskRequestSchema, type TaskRequest } from '@llama-orch/contracts';
import { followTask } from '../follow-task.ts';
import type { TaskSpec } from '../../tasks/task.ts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { readBody, sendError } from '@llama-orch/http';

const KEEP_ALIVE_MS = 15_000;

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

/** Write task events as SSE (replay, then follow), with keep-alives; a client that leaves cancels the task. */
export function streamTaskEvents(c: Context<AppEnv>, deps: AppDeps, taskId: string): Response {
  const task = deps.scheduler.task(taskId);
  if (task === undefined) return sendError(c, errorEnvelope('NOT_FOUND', `no task ${taskId}`));
  return streamSSE(c, async (stream) => {
    const keepAlive = setInterval(() => void stream.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    try {
      await followTask(stream, task, deps.scheduler.follow(task), async (event) => {
        await stream.writeSSE({ event: event.event, data: JSON.stringify(event.data) });
        return event.event === 'end' || event.event === 'error' ? 'done' : 'more';
      });
    } finally {
      clearInterval(keepAlive);
    }
  });
}

export function taskRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post('/v2/tasks', async (c) => {
    const body = await readBody(c, TaskRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const request = body.value;
    const id = request.task_id ?? randomUUID();
    const admission = deps.scheduler.submit({
      id,
      model: request.model_ref,
      priority: request.priority,
      sessionId: request.session_id,
      deadlineMs: request.deadline_ms,
      placement: request.placement,
      engine: nativeEngineRequest(request),
    });
    if (admission.kind === 'refused') return sendError(c, admission.envelope);
    c.get('log').info({ task_id: id, priority: request.priority, queue_position: admission.position }, 'task admitted');
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
    if (!deps.scheduler.cancel(c.req.param('id'), 'client'))
      return sendError(c, errorEnvelope('NOT_FOUND', `no task ${c.req.param('id')}`));
    return c.body(null, 204);
  });
}
