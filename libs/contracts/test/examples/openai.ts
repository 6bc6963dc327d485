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
  ResponsesRequest: {
    valid: [
      { name: 'a text input', value: { model: 'demo', input: 'hi' } },
      {
        name: 'a streamed conversation with a tool',
        value: {
          model: 'demo',
          stream: true,
          max_output_tokens: 64,
          input: [{ role: 'user', content: 'weather?' }],
          tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }],
        },
      },
    ],
    invalid: [
      { name: 'no input', value: { model: 'demo' }, field: 'input' },
      { name: 'an empty input list', value: { model: 'demo', input: [] }, field: 'input' },
    ],
  },
  MessagesRequest: {
    valid: [
      { name: 'one turn', value: { model: 'demo', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] } },
      {
        name: 'a streamed turn with a system prompt and a tool',
        value: {
          model: 'demo',
          max_tokens: 64,
          stream: true,
          system: 'Be brief.',
          messages: [{ role: 'user', content: [{ type: 'text', text: 'weather?' }] }],
          tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
        },
      },
    ],
    invalid: [
      {
        name: 'no max_tokens',
        value: { model: 'demo', messages: [{ role: 'user', content: 'hi' }] },
        field: 'max_tokens',
      },
      {
        name: 'a system role among the messages',
        value: { model: 'demo', max_tokens: 8, messages: [{ role: 'system', content: 'hi' }] },
        field: 'messages[0].role',
      },
    ],
  },
  CountTokensRequest: {
    valid: [{ name: 'one turn', value: { model: 'demo', messages: [{ role: 'user', content: 'hi' }] } }],
    invalid: [{ name: 'no messages', value: { model: 'demo', messages: [] }, field: 'messages' }],
  },
  ResponseObject: {
    valid: [
      {
        name: 'a completed response',
        value: {
          id: 'resp_1',
          object: 'response',
          model: 'demo',
          status: 'completed',
          output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] }],
          usage: { input_tokens: 3, output_tokens: 1, total_tokens: 4 },
        },
      },
    ],
    invalid: [
      {
        name: 'a wrong object',
        value: { id: 'r', object: 'message', model: 'demo', status: 'completed', output: [] },
        field: 'object',
      },
    ],
  },
  ResponseStreamEvent: {
    valid: [{ name: 'a text delta', value: { type: 'response.output_text.delta', item_id: 'msg_1', delta: 'He' } }],
    invalid: [{ name: 'no type', value: { delta: 'He' }, field: 'type' }],
  },
  AnthropicMessage: {
    valid: [
      {
        name: 'a tool call',
        value: {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'demo',
          content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: '' } }],
          stop_reason: 'tool_use',
          usage: { input_tokens: 12, output_tokens: 9 },
        },
      },
    ],
    invalid: [
      {
        name: 'a user message',
        value: { id: 'm', type: 'message', role: 'user', model: 'demo', content: [], stop_reason: null },
        field: 'role',
      },
    ],
  },
  MessageStreamEvent: {
    valid: [
      {
        name: 'a text delta',
        value: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } },
      },
    ],
    invalid: [{ name: 'an empty type', value: { type: '' }, field: 'type' }],
  },
  TokenCount: {
    valid: [{ name: 'a count', value: { input_tokens: 31 } }],
    invalid: [{ name: 'a negative count', value: { input_tokens: -1 }, field: 'input_tokens' }],
  },
  AnthropicErrorResponse: {
    valid: [
      {
        name: 'a refused request',
        value: {
          type: 'error',
          error: { type: 'invalid_request_error', message: 'INVALID_PARAMS: max_tokens: required' },
        },
      },
    ],
    invalid: [{ name: 'no error', value: { type: 'error' }, field: 'error' }],
  },
};
