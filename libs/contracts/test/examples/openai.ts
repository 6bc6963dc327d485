/** The OpenAI-compatible subset. */
import { type ShapeExamples } from './shape-examples.ts';

const chatRequest = { model: 'demo', messages: [{ role: 'user', content: 'hi' }] };
const usage = { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 };
const head = { id: 'chatcmpl-1', created: 1_790_000_000, model: 'demo' };

export const openaiExamples: Record<string, ShapeExamples> = {
  ChatCompletionRequest: {
    valid: [
      { name: 'a minimal chat', value: chatRequest },
      {
        name: 'a streamed chat with llama.cpp extensions',
        value: {
          ...chatRequest,
          stream: true,
          stream_options: { include_usage: true },
          top_k: 20,
          min_p: 0.05,
          ignore_eos: true,
          json_schema: {},
        },
      },
    ],
    invalid: [
      { name: 'no messages', value: { model: 'demo', messages: [] }, field: 'messages' },
      { name: 'n above 1', value: { ...chatRequest, n: 2 }, field: 'n' },
      { name: 'a temperature above 2', value: { ...chatRequest, temperature: 3 }, field: 'temperature' },
      { name: 'no model', value: { messages: chatRequest.messages }, field: 'model' },
    ],
  },
  CompletionRequest: {
    valid: [
      { name: 'a prompt', value: { model: 'demo', prompt: 'Once upon', max_tokens: 16 } },
      { name: 'a single-element prompt array', value: { model: 'demo', prompt: ['Once upon'] } },
    ],
    invalid: [
      { name: 'two prompts', value: { model: 'demo', prompt: ['a', 'b'] }, field: 'prompt' },
      { name: 'echo', value: { model: 'demo', prompt: 'a', echo: true }, field: 'echo' },
    ],
  },
  Usage: {
    valid: [{ name: 'counts', value: usage }],
    invalid: [{ name: 'a missing total', value: { prompt_tokens: 1, completion_tokens: 1 }, field: 'total_tokens' }],
  },
  ChatCompletion: {
    valid: [
      {
        name: 'an answer',
        value: {
          ...head,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }],
          usage,
        },
      },
    ],
    invalid: [
      {
        name: 'a wrong object',
        value: { ...head, object: 'chat.completion.chunk', choices: [], usage },
        field: 'object',
      },
    ],
  },
  ChatCompletionChunk: {
    valid: [
      {
        name: 'a delta',
        value: {
          ...head,
          object: 'chat.completion.chunk',
          choices: [{ index: 0, delta: { content: 'He' }, finish_reason: null }],
        },
      },
      { name: 'the usage chunk', value: { ...head, object: 'chat.completion.chunk', choices: [], usage } },
    ],
    invalid: [
      {
        name: 'an unknown finish reason',
        value: { ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'tired' }] },
        field: 'choices[0].finish_reason',
      },
    ],
  },
  Completion: {
    valid: [
      {
        name: 'an answer',
        value: {
          ...head,
          object: 'text_completion',
          choices: [{ index: 0, text: ' a time', logprobs: null, finish_reason: 'length' }],
          usage,
        },
      },
    ],
    invalid: [{ name: 'no usage', value: { ...head, object: 'text_completion', choices: [] }, field: 'usage' }],
  },
  CompletionChunk: {
    valid: [
      {
        name: 'a text delta',
        value: {
          ...head,
          object: 'text_completion',
          choices: [{ index: 0, text: ' a', logprobs: null, finish_reason: null }],
        },
      },
    ],
    invalid: [
      {
        name: 'a missing text',
        value: { ...head, object: 'text_completion', choices: [{ index: 0, logprobs: null, finish_reason: null }] },
        field: 'choices[0].text',
      },
    ],
  },
  ModelList: {
    valid: [
      {
        name: 'one model',
        value: { object: 'list', data: [{ id: 'demo', object: 'model', created: 0, owned_by: 'llama-orch' }] },
      },
    ],
    invalid: [{ name: 'a wrong object', value: { object: 'models', data: [] }, field: 'object' }],
  },
};
