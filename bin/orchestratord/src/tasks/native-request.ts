import type { TaskRequest } from '@llama-orch/contracts';
import type { TaskHints, TaskSpec } from './task.ts';

const SAMPLING_KEYS = ['seed', 'temperature', 'top_p', 'top_k', 'min_p', 'stop', 'ignore_eos', 'grammar'] as const;

/**
 * The engine request for a native task: llama.cpp's /completion for a prompt, chat completions for messages.
 * `output_mode: json` is the engine's JSON grammar (/completion `json_schema: {type: object}`, chat
 * `response_format: json_object`); `kv_hint: cold` turns off the engine's prompt cache (`cache_prompt: false`).
 */
export function nativeEngineRequest(task: TaskRequest): TaskSpec['engine'] {
  // Embeddings and rerank go to the engine's OpenAI-shaped routes on a pool of that kind; the answer is one body.
  if (task.workload === 'embedding')
    return {
      endpoint: '/v1/embeddings',
      body: { model: task.model_ref, input: task.inputs ?? [], encoding_format: 'float' },
    };
  if (task.workload === 'rerank')
    return {
      endpoint: '/v1/rerank',
      body: { model: task.model_ref, query: task.prompt ?? '', documents: task.inputs ?? [] },
    };
  const sampling = Object.fromEntries(
    SAMPLING_KEYS.flatMap((key) => (task[key] === undefined ? [] : [[key, task[key]]])),
  );
  const cache = task.kv_hint === 'cold' ? { cache_prompt: false } : {};
  const json = task.output_mode === 'json';
  if (task.messages !== undefined) {
    return {
      endpoint: '/v1/chat/completions',
      body: {
        ...sampling,
        ...cache,
        ...(json ? { response_format: { type: 'json_object' } } : {}),
        messages: task.messages,
        max_tokens: task.max_tokens,
        stream: true,
        stream_options: { include_usage: true },
      },
    };
  }
  return {
    endpoint: '/completion',
    body: {
      ...sampling,
      ...cache,
      ...(json ? { json_schema: { type: 'object' } } : {}),
      prompt: task.prompt ?? '',
      n_predict: task.max_tokens,
      stream: true,
    },
  };
}

/** The contract fields a native task carries past admission (see TaskHints). */
export function taskHints(task: TaskRequest): TaskHints {
  return {
    workload: task.workload,
    determinism: task.determinism,
    seed: task.seed,
    sampler_profile_version: task.sampler_profile_version,
    expected_tokens: task.expected_tokens,
    kv_hint: task.kv_hint,
    output_mode: task.output_mode,
    ctx: task.ctx,
  };
}
