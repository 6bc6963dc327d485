import { randomUUID } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import {
  ChatCompletionRequestSchema,
  CompletionRequestSchema,
  errorEnvelope,
  toOpenAIError,
  type ErrorEnvelope,
  type TaskEvent,
} from '@llama-orch/contracts';
import type { Task, TaskSpec } from '../../tasks/task.ts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { readBody, sendError } from '@llama-orch/http';
import { firstEvent, followTask } from '../follow-task.ts';

type Kind = 'chat' | 'completion';

function finishReason(event: TaskEvent & { event: 'end' }): 'stop' | 'length' {
  return event.data.finish_reason === 'length' ? 'length' : 'stop';
}

function chunk(
  kind: Kind,
  id: string,
  model: string,
  created: number,
  piece: { content?: string; role?: boolean; finish?: 'stop' | 'length' },
) {
  if (kind === 'chat') {
    const delta = {
      ...(piece.role ? { role: 'assistant' as const } : {}),
      ...(piece.content !== undefined ? { content: piece.content } : {}),
    };
    return {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: piece.finish ?? null }],
    };
  }
  return {
    id,
    object: 'text_completion',
    created,
    model,
    choices: [{ index: 0, text: piece.content ?? '', logprobs: null, finish_reason: piece.finish ?? null }],
  };
}

/** The HTTP answer of a task that ended in an error. */
const envelopeOf = (event: TaskEvent & { event: 'error' }): ErrorEnvelope =>
  errorEnvelope(
    event.data.code,
    event.data.message,
    event.data.retry_after_ms !== undefined ? { retry_after_ms: event.data.retry_after_ms } : {},
  );

/** Wait for a task's terminal event, collecting its text. */
function collect(task: Task): Promise<{ text: string; last: TaskEvent }> {
  return new Promise((resolve) => {
    let text = '';
    const unsubscribe = task.subscribe((event) => {
      if (event.event === 'token') text += event.data.t;
      if (event.event === 'end' || event.event === 'error') {
        queueMicrotask(() => unsubscribe());
        resolve({ text, last: event });
      }
    });
  });
}

async function complete(c: Context<AppEnv>, deps: AppDeps, kind: Kind): Promise<Response> {
  const body =
    kind === 'chat' ? await readBody(c, ChatCompletionRequestSchema) : await readBody(c, CompletionRequestSchema);
  if (!body.ok) return sendError(c, body.envelope);
  const request = body.value as Record<string, unknown> & {
    model: string;
    stream: boolean;
    stream_options?: { include_usage?: boolean } | null;
  };
  const includeUsage = request.stream_options?.include_usage === true;
  const engineBody: Record<string, unknown> = { ...request, stream: true, stream_options: { include_usage: true } };
  // Without a cap a request runs to the end of the context: the configured default bounds it.
  if (engineBody['max_tokens'] == null && engineBody['max_completion_tokens'] == null)
    engineBody['max_tokens'] = deps.defaultMaxTokens;
  if (kind === 'completion' && Array.isArray(request['prompt']))
    engineBody['prompt'] = (request['prompt'] as string[])[0];
  const engine: TaskSpec['engine'] =
    kind === 'chat'
      ? { endpoint: '/v1/chat/completions', body: engineBody }
      : { endpoint: '/v1/completions', body: engineBody };
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
  const admission = deps.scheduler.submit({
    id,
    owner: c.get('identity').owner,
    model: request.model,
    priority: 'interactive',
    sessionId: undefined,
    deadlineMs: undefined,
    placement: undefined,
    engine,
  });
  if (admission.kind === 'refused') return sendError(c, admission.envelope);
  const task = admission.task;
  const created = Math.floor(Date.now() / 1000);
  const model = request.model;

  if (!request.stream) {
    const abort = (): void => void deps.scheduler.cancel(id, 'disconnect');
    c.req.raw.signal.addEventListener('abort', abort, { once: true });
    const { text, last } = await collect(task);
    c.req.raw.signal.removeEventListener('abort', abort);
    if (last.event === 'error') return sendError(c, envelopeOf(last));
    const end = last as TaskEvent & { event: 'end' };
    const usage = {
      prompt_tokens: end.data.tokens_in ?? 0,
      completion_tokens: end.data.tokens_out,
      total_tokens: (end.data.tokens_in ?? 0) + end.data.tokens_out,
    };
    if (kind === 'chat') {
      return c.json({
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finishReason(end) }],
        usage,
      });
    }
    return c.json({
      id,
      object: 'text_completion',
      created,
      model,
      choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason(end) }],
      usage,
    });
  }

  const first = await firstEvent(task, c.req.raw.signal, () => void deps.scheduler.cancel(id, 'disconnect'));
  if (first?.event === 'error') return sendError(c, envelopeOf(first));
  return streamSSE(c, async (stream) => {
    const send = (data: unknown): Promise<void> => stream.writeSSE({ data: JSON.stringify(data) });
    await followTask(
      stream,
      task,
      () => deps.scheduler.cancel(id, 'disconnect'),
      async (event) => {
        if (event.event === 'started' && kind === 'chat')
          await send(chunk(kind, id, model, created, { role: true, content: '' }));
        if (event.event === 'token') await send(chunk(kind, id, model, created, { content: event.data.t }));
        if (event.event === 'error') {
          await send(toOpenAIError(errorEnvelope(event.data.code, event.data.message)));
          return 'done';
        }
        if (event.event !== 'end') return 'more';
        await send(chunk(kind, id, model, created, { finish: finishReason(event) }));
        if (includeUsage) {
          const usage = {
            prompt_tokens: event.data.tokens_in ?? 0,
            completion_tokens: event.data.tokens_out,
            total_tokens: (event.data.tokens_in ?? 0) + event.data.tokens_out,
          };
          await send({ ...chunk(kind, id, model, created, {}), choices: [], usage });
        }
        await stream.writeSSE({ data: '[DONE]' });
        return 'done';
      },
    );
  });
}

export function openaiRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get('/v1/models', (c) => {
    const models = [
      ...new Set(
        deps.scheduler
          .views()
          .filter((v) => v.available && v.status.ready)
          // Both name the model: the pool's model ref, and its pool id (the short name people type).
          .flatMap((v) => [v.status.model, v.status.pool_id]),
      ),
    ].sort();
    return c.json({
      object: 'list' as const,
      data: models.map((id) => ({ id, object: 'model' as const, created: 0, owned_by: 'llama-orch' })),
    });
  });
  app.post('/v1/chat/completions', (c) => complete(c, deps, 'chat'));
  app.post('/v1/completions', (c) => complete(c, deps, 'completion'));
}
