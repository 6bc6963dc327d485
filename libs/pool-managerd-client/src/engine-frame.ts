import type { DispatchRequest } from '@llama-orch/contracts';

/**
 * One piece of an engine's answer — an SSE event of a stream, or the whole JSON body of a non-streamed request —
 * with what it means for a task, whichever of llama-server's routes produced it. `data` is the engine's text as
 * received, for routes that relay it unchanged; the other fields are read from it once.
 */
export interface EngineFrame {
  /** The SSE event name (Anthropic's and the Responses API's streams name theirs); null: none, or a JSON body. */
  readonly event: string | null;
  readonly data: string;
  /** The parsed payload; null when it is not JSON (`[DONE]`). */
  readonly json: unknown;
  /** Text the model generated in this piece (content deltas; for a body, the whole answer). */
  readonly text: string | null;
  /** The piece carries generated output of any kind: text, reasoning, a tool-call fragment, a logprob. */
  readonly output: boolean;
  readonly done: boolean;
  /** The engine's finish reason, as it names it (`stop`, `length`, `tool_calls`, `end_turn`, `max_tokens`, …). */
  readonly finishReason: string | null;
  readonly tokensIn: number | null;
  readonly tokensOut: number | null;
  /** The engine reported an error in its answer (an `error` event or body). */
  readonly error: { readonly status: number | null; readonly message: string } | null;
}

const EMPTY = {
  event: null,
  json: null,
  text: null,
  output: false,
  done: false,
  finishReason: null,
  tokensIn: null,
  tokensOut: null,
  error: null,
} as const;

type Json = Record<string, unknown>;

const record = (value: unknown): Json | null =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : null;
const string = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const count = (value: unknown): number | null => (typeof value === 'number' ? value : null);

function engineError(json: Json): EngineFrame['error'] {
  const error = record(json['error']);
  if (error === null) return null;
  const status = count(error['code']);
  return { status, message: string(error['message']) ?? JSON.stringify(error).slice(0, 300) };
}

/** llama.cpp's native `/completion` stream. */
function nativeFrame(json: Json): Omit<EngineFrame, 'data' | 'event' | 'json'> {
  const content = string(json['content']);
  const text = content !== null && content !== '' ? content : null;
  const done = json['stop'] === true;
  return {
    ...EMPTY,
    text,
    output: text !== null,
    done,
    finishReason: done ? (json['stop_type'] === 'limit' ? 'length' : 'stop') : null,
    tokensIn: done ? count(json['tokens_evaluated']) : null,
    tokensOut: done ? count(json['tokens_predicted']) : null,
  };
}

/** OpenAI chat and text completions: a chunk, or a whole non-streamed body. */
function openAIFrame(json: Json): Omit<EngineFrame, 'data' | 'event' | 'json'> {
  const choice = record((json['choices'] as unknown[] | undefined)?.[0]);
  const delta = record(choice?.['delta']) ?? record(choice?.['message']);
  const piece = string(delta?.['content']) ?? string(choice?.['text']);
  const usage = record(json['usage']);
  // Without a usage chunk (the client did not ask for one), llama-server's last chunk still carries its timings.
  const timings = usage === null ? record(json['timings']) : null;
  const output =
    (piece !== null && piece !== '') ||
    string(delta?.['reasoning_content']) !== null ||
    Array.isArray(delta?.['tool_calls']) ||
    record(choice?.['logprobs']) !== null;
  return {
    ...EMPTY,
    text: piece !== null && piece !== '' ? piece : null,
    output,
    finishReason: string(choice?.['finish_reason']),
    tokensIn:
      count(usage?.['prompt_tokens']) ??
      (timings === null ? null : (count(timings['prompt_n']) ?? 0) + (count(timings['cache_n']) ?? 0)),
    tokensOut: count(usage?.['completion_tokens']) ?? (timings === null ? null : count(timings['predicted_n'])),
    error: engineError(json),
  };
}

/** OpenAI's Responses API: `response.*` events, or the whole response object. */
function responsesFrame(json: Json): Omit<EngineFrame, 'data' | 'event' | 'json'> {
  const type = string(json['type']);
  const response = record(json['response']) ?? (json['object'] === 'response' ? json : null);
  const usage = record(response?.['usage']);
  const finished = type === 'response.completed' || (type === null && response !== null);
  const delta = type?.endsWith('.delta') === true ? string(json['delta']) : null;
  const text = type === 'response.output_text.delta' ? delta : null;
  const incomplete = string(record(response?.['incomplete_details'])?.['reason']);
  return {
    ...EMPTY,
    text: text !== '' ? text : null,
    output: delta !== null && delta !== '',
    finishReason: finished ? (incomplete === 'max_output_tokens' ? 'length' : 'stop') : null,
    tokensIn: finished ? count(usage?.['input_tokens']) : null,
    tokensOut: finished ? count(usage?.['output_tokens']) : null,
    error:
      type === 'error' || type === 'response.failed'
        ? (engineError(json) ?? engineError(response ?? {}))
        : engineError(json),
  };
}

/** Anthropic's Messages API: its stream events, or the whole message. */
function messagesFrame(json: Json): Omit<EngineFrame, 'data' | 'event' | 'json'> {
  const type = string(json['type']);
  const delta = record(json['delta']);
  if (type === 'message') {
    const usage = record(json['usage']);
    const content = Array.isArray(json['content']) ? (json['content'] as unknown[]) : [];
    const text = content.map((block) => string(record(block)?.['text']) ?? '').join('');
    return {
      ...EMPTY,
      text: text !== '' ? text : null,
      output: content.length > 0,
      finishReason: string(json['stop_reason']),
      tokensIn: count(usage?.['input_tokens']),
      tokensOut: count(usage?.['output_tokens']),
    };
  }
  if (type === 'message_start') {
    const usage = record(record(json['message'])?.['usage']);
    return { ...EMPTY, tokensIn: count(usage?.['input_tokens']) };
  }
  if (type === 'content_block_delta') {
    const text = string(delta?.['text']);
    return { ...EMPTY, text: text !== '' ? text : null, output: true };
  }
  if (type === 'message_delta') {
    const usage = record(json['usage']);
    return { ...EMPTY, finishReason: string(delta?.['stop_reason']), tokensOut: count(usage?.['output_tokens']) };
  }
  if (type === 'error') {
    const error = record(json['error']);
    return { ...EMPTY, error: { status: null, message: string(error?.['message']) ?? 'engine error' } };
  }
  const counted = count(json['input_tokens']);
  if (type === null && counted !== null)
    // count_tokens: the whole answer is the count.
    return { ...EMPTY, done: true, finishReason: 'stop', tokensIn: counted, tokensOut: 0 };
  return { ...EMPTY, done: type === 'message_stop', error: engineError(json) };
}

/**
 * Embeddings and rerank: one JSON body, whole; it ends the answer (`stop`), reads `usage.prompt_tokens` and
 * generates nothing token by token (the vectors or scores are its output, counted as one piece).
 */
function vectorsFrame(json: Json): Omit<EngineFrame, 'data' | 'event' | 'json'> {
  const error = engineError(json);
  if (error !== null) return { ...EMPTY, error };
  const usage = record(json['usage']);
  return {
    ...EMPTY,
    output: true,
    done: true,
    finishReason: 'stop',
    tokensIn: count(usage?.['prompt_tokens']),
    tokensOut: 0,
  };
}

/** Parse one piece of an engine answer: a `data:` payload (with its SSE event name), or a JSON body. */
export function parseEngineFrame(
  endpoint: DispatchRequest['endpoint'],
  data: string,
  event: string | null = null,
): EngineFrame | null {
  if (data.trim() === '[DONE]') return { ...EMPTY, event, data, done: true };
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  const json = record(parsed);
  if (json === null) return null;
  const meaning =
    endpoint === '/completion'
      ? nativeFrame(json)
      : endpoint === '/v1/responses'
        ? responsesFrame(json)
        : endpoint === '/v1/messages' || endpoint === '/v1/messages/count_tokens'
          ? messagesFrame(json)
          : endpoint === '/v1/embeddings' || endpoint === '/v1/rerank'
            ? vectorsFrame(json)
            : openAIFrame(json);
  return { ...meaning, event, data, json };
}
