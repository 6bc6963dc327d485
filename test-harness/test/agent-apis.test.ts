import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { ChatCompletionFunctionTool, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { FunctionTool, ResponseInputItem } from 'openai/resources/responses/responses';
import { collect, openaiClient, startConformanceStack, type ConformanceStack } from '../src/conformance-stack.ts';
import { STREAM_BUDGET_MS, within } from '../src/sse.ts';

const KEY = 'agent-apis-test-key-0123456789';
/** Anthropic's SDK no longer types `temperature`; the engine still takes it, and greedy answers are repeatable. */
const GREEDY = { temperature: 0 } as object;
const QUESTION = 'What is the weather in Paris?';
const CITY_SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const CHAT_TOOL: ChatCompletionFunctionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'The weather in a city', parameters: CITY_SCHEMA },
};
const RESPONSES_TOOL: FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: CITY_SCHEMA,
  strict: false,
};
const ANTHROPIC_TOOL: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

/** The agent's side of a tool call: parse the arguments the model wrote and answer them. */
function getWeather(args: unknown): string {
  const parsed: unknown = typeof args === 'string' ? JSON.parse(args) : args;
  assert.ok(typeof parsed === 'object' && parsed !== null && 'city' in parsed, `arguments ${JSON.stringify(args)}`);
  return JSON.stringify({ ...parsed, forecast: 'sunny' });
}

describe(
  'coding-agent APIs through orchestratord: tool loops with the official clients',
  { timeout: 30 * 60_000 },
  () => {
    let started: ConformanceStack | null = null;
    let anthropic: Anthropic | null = null;
    const stack = (): ConformanceStack => {
      if (started === null) throw new Error('the stack did not start');
      return started;
    };
    const claude = (): Anthropic => {
      if (anthropic === null) throw new Error('the stack did not start');
      return anthropic;
    };
    before(async () => {
      started = await startConformanceStack({ ORCHD_API_KEYS: KEY });
      // Anthropic's client sends the key as x-api-key, not as a bearer token.
      anthropic = new Anthropic({
        baseURL: started.cluster.url,
        apiKey: KEY,
        maxRetries: 0,
        timeout: STREAM_BUDGET_MS,
      });
    });
    after(async () => {
      await started?.cluster.cleanup();
    });

    test('an openai agent loop: the model calls a tool in a stream, gets the result back, and answers', async () => {
      const client = stack().relayed;
      const asked: ChatCompletionMessageParam[] = [{ role: 'user', content: QUESTION }];
      const chunks = await collect('the tool call stream', (signal) =>
        client.chat.completions.create(
          {
            model: 'demo',
            messages: asked,
            tools: [CHAT_TOOL],
            tool_choice: 'required',
            parallel_tool_calls: false,
            temperature: 0,
            max_tokens: 96,
            stream: true,
          },
          { signal },
        ),
      );
      const fragments = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
      const id = fragments.find((f) => f.id !== undefined)?.id;
      const name = fragments.find((f) => f.function?.name !== undefined)?.function?.name;
      const args = fragments.map((f) => f.function?.arguments ?? '').join('');
      assert.ok(id !== undefined && name === 'get_weather', `a get_weather call, got ${JSON.stringify(fragments)}`);
      assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'tool_calls');

      const reply = await client.chat.completions.create({
        model: 'demo',
        messages: [
          ...asked,
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id, type: 'function', function: { name, arguments: args } }],
          },
          { role: 'tool', tool_call_id: id, content: getWeather(args) },
        ],
        tools: [CHAT_TOOL],
        tool_choice: 'none',
        temperature: 0,
        max_tokens: 8,
      });
      assert.equal(reply.model, 'demo');
      assert.ok((reply.choices[0]?.message.content ?? '').length > 0, 'a reply in words');
      assert.equal((reply.choices[0]?.message.tool_calls ?? []).length, 0, 'no further call');
      assert.ok((reply.usage?.prompt_tokens ?? 0) > 100, 'the tool call and its result were in the prompt');
    });

    test('OpenAI Responses: responses.create answers streaming and not, and a function call round trip', async () => {
      const client = stack().relayed;
      const once = await client.responses.create({ model: 'demo', input: 'Hi', max_output_tokens: 5, temperature: 0 });
      assert.equal(once.model, 'demo');
      assert.equal(once.status, 'completed');
      assert.ok(once.output_text.length > 0);

      const events = await collect('the Responses stream', (signal) =>
        client.responses.create(
          { model: 'demo', input: 'Hi', max_output_tokens: 5, temperature: 0, stream: true },
          { signal },
        ),
      );
      const deltas = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
      const completed = events.at(-1);
      assert.equal(completed?.type, 'response.completed', events.map((e) => e.type).join(', '));
      if (completed?.type === 'response.completed') {
        assert.equal(completed.response.model, 'demo');
        assert.equal(deltas.join(''), once.output_text, 'the streamed text is the greedy answer');
      }

      const input: ResponseInputItem[] = [{ role: 'user', content: QUESTION }];
      const called = await client.responses.create({
        model: 'demo',
        input,
        tools: [RESPONSES_TOOL],
        tool_choice: 'required',
        parallel_tool_calls: false,
        max_output_tokens: 96,
        temperature: 0,
      });
      const call = called.output.find((item) => item.type === 'function_call');
      assert.ok(call?.type === 'function_call', JSON.stringify(called.output));
      assert.equal(call.name, 'get_weather');
      const answered = await client.responses.create({
        model: 'demo',
        input: [
          ...input,
          call,
          { type: 'function_call_output', call_id: call.call_id, output: getWeather(call.arguments) },
        ],
        tools: [RESPONSES_TOOL],
        tool_choice: 'none',
        max_output_tokens: 8,
        temperature: 0,
      });
      assert.equal(answered.model, 'demo');
      assert.ok(answered.output_text.length > 0, 'a reply in words');
      assert.ok(!answered.output.some((item) => item.type === 'function_call'), 'no further call');
    });

    test('Anthropic Messages with x-api-key: a message streaming and not, and token counting', async () => {
      const message = await claude().messages.create({
        model: 'demo',
        max_tokens: 5,
        ...GREEDY,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      assert.equal(message.type, 'message');
      assert.equal(message.role, 'assistant');
      assert.equal(message.model, 'demo');
      assert.equal(message.stop_reason, 'max_tokens');
      assert.equal(message.usage.output_tokens, 5);
      const [block] = message.content;
      assert.ok(block?.type === 'text' && block.text.length > 0, JSON.stringify(message.content));

      const events = await collect('the Messages stream', (signal) =>
        claude().messages.create(
          { model: 'demo', max_tokens: 5, ...GREEDY, messages: [{ role: 'user', content: 'Hi' }], stream: true },
          { signal },
        ),
      );
      const [start] = events;
      assert.ok(start?.type === 'message_start', events.map((e) => e.type).join(', '));
      assert.equal(start.message.model, 'demo');
      const text = events.flatMap((e) =>
        e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? [e.delta.text] : [],
      );
      assert.equal(text.join(''), block.text);
      assert.equal(events.at(-1)?.type, 'message_stop');

      const counted = await claude().messages.countTokens({
        model: 'demo',
        messages: [{ role: 'user', content: 'Hi' }],
      });
      assert.ok(counted.input_tokens > 0);
    });

    test('Anthropic Messages tool use round trip: a streamed tool_use, its tool_result sent back, a reply', async () => {
      const asked: Anthropic.MessageParam[] = [{ role: 'user', content: QUESTION }];
      const called = await within('the streamed tool_use', STREAM_BUDGET_MS, (signal) =>
        claude()
          .messages.stream(
            {
              model: 'demo',
              max_tokens: 96,
              ...GREEDY,
              messages: asked,
              tools: [ANTHROPIC_TOOL],
              tool_choice: { type: 'any', disable_parallel_tool_use: true },
            },
            { signal },
          )
          .finalMessage(),
      );
      assert.equal(called.model, 'demo');
      assert.equal(called.stop_reason, 'tool_use');
      const use = called.content.find((b) => b.type === 'tool_use');
      assert.ok(use?.type === 'tool_use', JSON.stringify(called.content));
      assert.equal(use.name, 'get_weather');

      const reply = await claude().messages.create({
        model: 'demo',
        max_tokens: 8,
        ...GREEDY,
        messages: [
          ...asked,
          { role: 'assistant', content: called.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: getWeather(use.input) }] },
        ],
        tools: [ANTHROPIC_TOOL],
        tool_choice: { type: 'none' },
      });
      assert.equal(reply.model, 'demo');
      assert.ok(
        reply.content.some((b) => b.type === 'text' && b.text.length > 0),
        JSON.stringify(reply.content),
      );
      assert.ok(!reply.content.some((b) => b.type === 'tool_use'), 'no further call');
    });

    test('errors on the agent APIs come in each API’s own shape: a wrong key, an unknown model', async () => {
      const stranger = new Anthropic({ baseURL: stack().cluster.url, apiKey: 'not-the-key-0123456789', maxRetries: 0 });
      const ask = { max_tokens: 4, messages: [{ role: 'user' as const, content: 'Hi' }] };
      await assert.rejects(stranger.messages.create({ model: 'demo', ...ask }), (error: unknown) => {
        assert.ok(error instanceof Anthropic.AuthenticationError, String(error));
        assert.equal((error.error as { type?: unknown }).type, 'error', 'Anthropic’s error shape');
        return true;
      });
      await assert.rejects(claude().messages.create({ model: 'llama-70b', ...ask }), (error: unknown) => {
        assert.ok(error instanceof Anthropic.NotFoundError, String(error));
        const body = error.error as { type?: unknown; error?: { type?: unknown } };
        assert.equal(body.type, 'error');
        assert.equal(body.error?.type, 'not_found_error');
        return true;
      });
      const unauthorised = openaiClient(`${stack().cluster.url}/v1`, 'not-the-key-0123456789');
      await assert.rejects(
        unauthorised.responses.create({ model: 'demo', input: 'Hi', max_output_tokens: 4 }),
        (error: unknown) => {
          assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
          return true;
        },
      );
    });
  },
);
