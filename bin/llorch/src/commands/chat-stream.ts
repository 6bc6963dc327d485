import { createParser } from 'eventsource-parser';
import { ChatCompletionChunkSchema, ModelListSchema, OpenAIErrorResponseSchema, validate } from '@llama-orch/contracts';
import { request } from 'undici';
import type { LlorchEnv } from '../config.ts';
import { cancelTask } from './cancel-task.ts';
import { authHeaders } from './status.ts';

/** The turns llorch sends (a subset of the ChatMessage the API takes). */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

export interface ChatTurn {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly maxTokens: number;
}

/** How one streamed answer ended; `text` is what was shown of it. */
export type TurnOutcome =
  | { readonly kind: 'done'; readonly text: string; readonly finishReason: string | null }
  | { readonly kind: 'canceled'; readonly text: string }
  | { readonly kind: 'failed'; readonly text: string; readonly message: string };

/** The first model orchestratord lists, or null when nothing is ready. */
export async function defaultModel(env: LlorchEnv): Promise<string | null> {
  const answer = await request(`${env.url}/v1/models`, { headers: authHeaders(env) });
  const models = validate(ModelListSchema, await answer.body.json().catch(() => null));
  return models.ok ? (models.value.data[0]?.id ?? null) : null;
}

/**
 * Stream one chat answer from `/v1/chat/completions`, handing each piece of text to `onText`. When `stop` aborts
 * (Ctrl-C, or the reader of stdout went away) the task is canceled on the server, nothing more is handed on, and
 * the outcome is `canceled`.
 */
export async function streamTurn(
  env: LlorchEnv,
  turn: ChatTurn,
  onText: (text: string) => void,
  stop: AbortSignal,
): Promise<TurnOutcome> {
  let text = '';
  let taskId: string | null = null;
  let finishReason: string | null = null;
  const connection = new AbortController();
  let stopping: Promise<void> = Promise.resolve();
  const onStop = (): void => {
    // Cancel by id first (reason `client`), then close the stream; before the first chunk there is no id yet,
    // and closing the request is what cancels it (orchestratord cancels a task whose client left).
    stopping = (taskId === null ? Promise.resolve() : cancelTask(env, taskId)).then(() =>
      connection.abort(new Error('canceled')),
    );
  };
  if (stop.aborted) return { kind: 'canceled', text };
  stop.addEventListener('abort', onStop, { once: true });
  try {
    const answer = await request(`${env.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(env) },
      body: JSON.stringify({ model: turn.model, messages: turn.messages, max_tokens: turn.maxTokens, stream: true }),
      signal: connection.signal,
    });
    if (answer.statusCode !== 200) {
      const body = validate(OpenAIErrorResponseSchema, await answer.body.json().catch(() => null));
      return { kind: 'failed', text, message: body.ok ? body.value.error.message : `HTTP ${answer.statusCode}` };
    }
    let failure: string | null = null;
    const parser = createParser({
      onEvent: (event) => {
        if (event.data === '[DONE]' || stop.aborted || failure !== null) return;
        let data: unknown;
        try {
          data = JSON.parse(event.data);
        } catch {
          failure = `unexpected answer from orchestratord: ${event.data.slice(0, 200)}`;
          return;
        }
        const error = validate(OpenAIErrorResponseSchema, data);
        if (error.ok) {
          failure = error.value.error.message;
          return;
        }
        const chunk = validate(ChatCompletionChunkSchema, data);
        if (!chunk.ok) {
          failure = `unexpected answer from orchestratord: ${chunk.message}`;
          return;
        }
        taskId ??= chunk.value.id;
        const choice = chunk.value.choices[0];
        if (choice?.finish_reason != null) finishReason = choice.finish_reason;
        const piece = choice?.delta.content ?? '';
        if (piece === '') return;
        text += piece;
        onText(piece);
      },
    });
    // A character may be split between two chunks: decode as a stream.
    const decoder = new TextDecoder();
    for await (const piece of answer.body) {
      parser.feed(decoder.decode(piece as Buffer, { stream: true }));
      if (failure !== null) {
        connection.abort(new Error(failure));
        return { kind: 'failed', text, message: failure };
      }
    }
    if (stop.aborted) {
      await stopping;
      return { kind: 'canceled', text };
    }
    return { kind: 'done', text, finishReason };
  } catch (error) {
    if (stop.aborted) {
      await stopping;
      return { kind: 'canceled', text };
    }
    return { kind: 'failed', text, message: (error as Error).message };
  } finally {
    stop.removeEventListener('abort', onStop);
  }
}
