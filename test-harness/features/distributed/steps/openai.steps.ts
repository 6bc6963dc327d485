/**
 * Steps of openai.feature: the OpenAI-compatible routes through the official `openai` client.
 */
import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import OpenAI from 'openai';
import { ChatCompletionSchema, validate } from '@llama-orch/contracts';
import { jsonRequest } from '../../../src/http-json.ts';
import { STREAM_BUDGET_MS, within } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';
import { ANSWER_MS, area, lastAnswer, openaiClient } from '../support/task-helpers.ts';

When(
  'I ask for a chat completion of {int} tokens without streaming',
  async function (this: ClusterWorld, tokens: number) {
    const cluster = this.running;
    this.last = await jsonRequest(`${cluster.url}/v1/chat/completions`, {
      method: 'POST',
      headers: cluster.auth,
      timeoutMs: STREAM_BUDGET_MS,
      body: { model: 'demo', messages: [{ role: 'user', content: 'Say hi' }], max_tokens: tokens, ignore_eos: true },
    });
  },
);

Then(
  'the answer is a chat.completion of {int} completion tokens whose usage adds up',
  function (this: ClusterWorld, tokens: number) {
    const body = lastAnswer<unknown>(this).body;
    const checked = validate(ChatCompletionSchema, body);
    assert.ok(checked.ok, `a ChatCompletion: ${JSON.stringify(body)}`);
    const completion = checked.value;
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'demo');
    assert.equal(completion.choices[0]?.message.role, 'assistant');
    assert.ok((completion.choices[0]?.message.content ?? '').length > 0, 'the answer has text');
    assert.equal(completion.choices[0]?.finish_reason, 'length');
    assert.equal(completion.usage.completion_tokens, tokens);
    assert.ok(completion.usage.prompt_tokens > 0, 'the prompt was counted');
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
  },
);

When(
  'the openai client streams a chat completion of {int} tokens with usage',
  async function (this: ClusterWorld, tokens: number) {
    const client = openaiClient(this);
    const stream = { pieces: 0, finish: null as string | null, completionTokens: null as number | null };
    area(this).stream = stream;
    await within(
      'the streamed chat completion',
      STREAM_BUDGET_MS,
      async (signal) => {
        const chunks = await client.chat.completions.create(
          {
            model: 'demo',
            messages: [{ role: 'user', content: 'Count' }],
            max_tokens: tokens,
            stream: true,
            stream_options: { include_usage: true },
            ...({ ignore_eos: true } as object), // a llama.cpp extension: it passes through to the engine
          },
          { signal },
        );
        for await (const chunk of chunks) {
          if (chunk.choices[0]?.delta.content) stream.pieces += 1;
          stream.finish = chunk.choices[0]?.finish_reason ?? stream.finish;
          if (chunk.usage) stream.completionTokens = chunk.usage.completion_tokens;
        }
      },
      () => `${stream.pieces} content chunks, finish_reason ${stream.finish ?? 'none'}`,
    );
  },
);

Then(
  'the stream brought {int} content chunks, the finish_reason {string} and a usage of {int} completion tokens',
  function (this: ClusterWorld, pieces: number, finish: string, tokens: number) {
    const stream = area(this).stream;
    assert.ok(stream, 'no stream was followed');
    assert.equal(stream.pieces, pieces);
    assert.equal(stream.finish, finish);
    assert.equal(stream.completionTokens, tokens);
  },
);

When('the openai client lists the models', async function (this: ClusterWorld) {
  const models = await openaiClient(this).models.list();
  area(this).models = models.data.map((m) => m.id);
});

Then('the models are {string}', function (this: ClusterWorld, list: string) {
  assert.deepEqual(area(this).models, list.split(','));
});

When('I ask for a chat completion of the model {string}', async function (this: ClusterWorld, model: string) {
  const cluster = this.running;
  this.last = await jsonRequest(`${cluster.url}/v1/chat/completions`, {
    method: 'POST',
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
    body: { model, messages: [{ role: 'user', content: 'x' }], max_tokens: 4 },
  });
});

Then(
  'the answer is an OpenAI error of type {string} and code {string}',
  function (this: ClusterWorld, type: string, code: string) {
    const body = lastAnswer<{ error?: { message?: unknown; type?: unknown; code?: unknown } }>(this).body;
    assert.ok(body.error, `OpenAI's {error:{…}} shape: ${JSON.stringify(body)}`);
    assert.equal(body.error.type, type);
    assert.equal(body.error.code, code);
    assert.ok(typeof body.error.message === 'string' && body.error.message.length > 0, 'the error says why');
  },
);

Then(
  'the openai client raises an APIError {int} {string} for the model {string}',
  async function (this: ClusterWorld, status: number, code: string, model: string) {
    await assert.rejects(
      openaiClient(this).chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], max_tokens: 4 }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError, `an APIError: ${String(error)}`);
        assert.equal(error.status, status);
        assert.equal(error.code, code);
        return true;
      },
    );
  },
);
