import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionFunctionTool } from 'openai/resources/chat/completions';
import type { Completion } from 'openai/resources/completions';
import { chunkShapes, streamDiff, structuralDiff } from '../src/conformance-compare.ts';
import { sendBoth, startConformanceStack, streamBoth, type ConformanceStack } from '../src/conformance-stack.ts';
import { jsonRequest } from '../src/http-json.ts';
import { killPid } from '../src/processes.ts';
import { STREAM_BUDGET_MS, within } from '../src/sse.ts';

const WEATHER: ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const ANSWER_SCHEMA = {
  type: 'json_schema' as const,
  json_schema: {
    name: 'answer',
    schema: {
      type: 'object',
      properties: { n: { type: 'integer' }, ok: { type: 'boolean' } },
      required: ['n', 'ok'],
      additionalProperties: false,
    },
  },
};
const ASK = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
const HI = [{ role: 'user' as const, content: 'Hi' }];
/** A long answer: the engine's own end of sequence ignored (a llama.cpp extension field). */
const LONG = { model: 'demo', messages: HI, temperature: 0, ...({ ignore_eos: true } as object) };
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A 4xx from the engine is answered at once, not after retries on other pools. */
const AT_ONCE_MS = 5_000;

/** orchestratord's own id and the model name the client asked for, on a body or on every chunk of a stream. */
function assertRewritten(answers: readonly { id: string; model: string }[], prefix: 'chatcmpl' | 'cmpl'): void {
  const [first] = answers;
  assert.ok(first, 'an answer');
  assert.match(first.id, new RegExp(`^${prefix}-${UUID}$`));
  assert.deepEqual(new Set(answers.map((a) => a.id)), new Set([first.id]), 'one id on every chunk');
  assert.deepEqual(new Set(answers.map((a) => a.model)), new Set(['demo']), 'the model the client asked for');
}

function finishes(chunks: readonly (ChatCompletionChunk | Completion)[]): (string | null)[] {
  return chunks.flatMap((c) => c.choices.map((choice) => choice.finish_reason)).filter((f) => f !== null);
}

function content(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
}

function assertCityCall(name: string | undefined, args: string | undefined): void {
  assert.equal(name, 'get_weather');
  const parsed: unknown = JSON.parse(args ?? '');
  assert.ok(typeof parsed === 'object' && parsed !== null && 'city' in parsed, `arguments ${args ?? ''}`);
}

describe('/v1 relays the engine’s OpenAI answers without loss (openai client)', { timeout: 30 * 60_000 }, () => {
  let started: ConformanceStack | null = null;
  const stack = (): ConformanceStack => {
    if (started === null) throw new Error('the conformance stack did not start');
    return started;
  };
  before(async () => {
    started = await startConformanceStack();
  });
  after(async () => {
    await started?.cluster.cleanup();
  });

  test('a required tool call arrives whole, as a body and as indexed argument fragments, like the engine sent it', async () => {
    const body = {
      model: 'demo',
      messages: ASK,
      tools: [WEATHER],
      tool_choice: 'required' as const,
      parallel_tool_calls: false,
      temperature: 0,
      max_tokens: 96,
    };
    const once = await sendBoth(stack(), (c) => c.chat.completions.create(body));
    assert.deepEqual(structuralDiff(once.direct, once.relayed), []);
    assertRewritten([once.relayed], 'chatcmpl');
    const choice = once.relayed.choices[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    const calls = choice?.message.tool_calls ?? [];
    assert.equal(calls.length, 1, 'one call (parallel_tool_calls false)');
    const call = calls[0];
    assert.equal(call?.type, 'function');
    if (call?.type === 'function') assertCityCall(call.function.name, call.function.arguments);

    const streamed = await streamBoth(stack(), 'the tool call stream', (c, signal) =>
      c.chat.completions.create({ ...body, stream: true }, { signal }),
    );
    assert.deepEqual(streamDiff(streamed.direct, streamed.relayed), [], chunkShapes(streamed.relayed));
    assertRewritten(streamed.relayed, 'chatcmpl');
    const fragments = streamed.relayed.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    assert.ok(fragments.length > 1, `arguments arrive in fragments: ${chunkShapes(streamed.relayed)}`);
    assert.deepEqual(new Set(fragments.map((f) => f.index)), new Set([0]));
    assert.equal(typeof fragments[0]?.id, 'string');
    const args = fragments.map((f) => f.function?.arguments ?? '').join('');
    assertCityCall(fragments[0]?.function?.name, args);
    assert.deepEqual(finishes(streamed.relayed), ['tool_calls']);
  });

  test('logprobs with top_logprobs arrive for every token, streaming and not', async () => {
    const body = { model: 'demo', messages: HI, logprobs: true, top_logprobs: 2, temperature: 0, max_tokens: 4 };
    const once = await sendBoth(stack(), (c) => c.chat.completions.create(body));
    assert.deepEqual(structuralDiff(once.direct, once.relayed), []);
    const tokens = once.relayed.choices[0]?.logprobs?.content ?? [];
    assert.equal(tokens.length, 4, 'one logprob per generated token');
    for (const token of tokens) {
      assert.equal(typeof token.logprob, 'number');
      assert.equal(token.top_logprobs.length, 2);
    }

    const streamed = await streamBoth(stack(), 'the logprobs stream', (c, signal) =>
      c.chat.completions.create({ ...body, stream: true }, { signal }),
    );
    assert.deepEqual(streamDiff(streamed.direct, streamed.relayed), [], chunkShapes(streamed.relayed));
    const streamedTokens = streamed.relayed.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
    assert.equal(streamedTokens.length, 4);
    assert.ok(streamedTokens.every((t) => t.top_logprobs.length === 2));
  });

  test('response_format json_object and json_schema make the engine answer valid JSON', async () => {
    const object = await sendBoth(stack(), (c) =>
      c.chat.completions.create({
        model: 'demo',
        messages: HI,
        response_format: { type: 'json_object' },
        temperature: 0,
        max_tokens: 40,
      }),
    );
    assert.deepEqual(structuralDiff(object.direct, object.relayed), []);
    assert.equal(object.relayed.choices[0]?.finish_reason, 'stop');
    const parsed: unknown = JSON.parse(object.relayed.choices[0]?.message.content ?? '');
    assert.equal(typeof parsed, 'object');

    const schema = {
      model: 'demo',
      messages: HI,
      response_format: ANSWER_SCHEMA,
      temperature: 0,
      max_tokens: 60,
    };
    const once = await sendBoth(stack(), (c) => c.chat.completions.create(schema));
    assert.deepEqual(structuralDiff(once.direct, once.relayed), []);
    const instance = JSON.parse(once.relayed.choices[0]?.message.content ?? '') as { n: unknown; ok: unknown };
    assert.ok(Number.isInteger(instance.n) && typeof instance.ok === 'boolean', JSON.stringify(instance));

    const streamed = await streamBoth(stack(), 'the json_schema stream', (c, signal) =>
      c.chat.completions.create({ ...schema, stream: true }, { signal }),
    );
    assert.deepEqual(streamDiff(streamed.direct, streamed.relayed), [], chunkShapes(streamed.relayed));
    assert.deepEqual(JSON.parse(content(streamed.relayed)), instance);
  });

  test('stop ends with finish_reason stop, max_tokens with length, and the seed reproduces a sampled answer', async () => {
    const stopped = await sendBoth(stack(), (c) =>
      c.chat.completions.create({ model: 'demo', messages: HI, stop: [' demo'], temperature: 0, max_tokens: 30 }),
    );
    assert.deepEqual(structuralDiff(stopped.direct, stopped.relayed), []);
    assert.equal(stopped.relayed.choices[0]?.finish_reason, 'stop');
    assert.doesNotMatch(stopped.relayed.choices[0]?.message.content ?? 'demo', /demo/);

    const cut = await streamBoth(stack(), 'the max_tokens stream', (c, signal) =>
      c.chat.completions.create({ model: 'demo', messages: HI, max_tokens: 3, stream: true }, { signal }),
    );
    assert.deepEqual(streamDiff(cut.direct, cut.relayed), [], chunkShapes(cut.relayed));
    assert.deepEqual(finishes(cut.relayed), ['length']);

    // Sampled at a high temperature under a schema, the answer depends on the seed: equal answers prove it was passed.
    const sampled = (seed: number) => ({
      model: 'demo',
      messages: HI,
      response_format: ANSWER_SCHEMA,
      temperature: 1.5,
      seed,
      max_tokens: 40,
    });
    const seeded = await sendBoth(stack(), (c) => c.chat.completions.create(sampled(2)));
    assert.deepEqual(structuralDiff(seeded.direct, seeded.relayed), []);
    const other = await stack().direct.chat.completions.create(sampled(3));
    assert.notEqual(other.choices[0]?.message.content, seeded.direct.choices[0]?.message.content, 'seeds matter');
  });

  test('stream_options.include_usage is honoured as sent: a usage chunk when asked for, none when not', async () => {
    const body = { model: 'demo', messages: HI, max_tokens: 5, stream: true as const };
    const withUsage = await streamBoth(stack(), 'the stream with usage', (c, signal) =>
      c.chat.completions.create({ ...body, stream_options: { include_usage: true } }, { signal }),
    );
    assert.deepEqual(streamDiff(withUsage.direct, withUsage.relayed), [], chunkShapes(withUsage.relayed));
    const last = withUsage.relayed.at(-1);
    assert.deepEqual(last?.choices, []);
    assert.equal(last?.usage?.completion_tokens, 5);
    assert.ok((last?.usage?.prompt_tokens ?? 0) > 0);

    const without = await streamBoth(stack(), 'the stream without usage', (c, signal) =>
      c.chat.completions.create(body, { signal }),
    );
    assert.deepEqual(streamDiff(without.direct, without.relayed), [], chunkShapes(without.relayed));
    assert.ok(
      without.relayed.every((c) => !c.usage && c.choices.length > 0),
      chunkShapes(without.relayed),
    );
  });

  test('/v1/completions relays text, logprobs, finish_reason and usage, streaming and not', async () => {
    const body = { model: 'demo', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, logprobs: 2 };
    const once = await sendBoth(stack(), (c) => c.completions.create(body));
    assert.deepEqual(structuralDiff(once.direct, once.relayed), []);
    assertRewritten([once.relayed], 'cmpl');
    assert.equal(once.relayed.object, 'text_completion');
    assert.equal(once.relayed.choices[0]?.finish_reason, 'length');
    assert.ok(once.relayed.choices[0]?.logprobs, 'logprobs arrive');
    assert.equal(once.relayed.usage?.completion_tokens, 5);

    const streamed = await streamBoth(stack(), 'the completion stream', (c, signal) =>
      c.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, { signal }),
    );
    assert.deepEqual(streamDiff(streamed.direct, streamed.relayed), [], chunkShapes(streamed.relayed));
    assertRewritten(streamed.relayed, 'cmpl');
    assert.deepEqual(finishes(streamed.relayed), ['length']);
    assert.equal(streamed.relayed.map((c) => c.choices[0]?.text ?? '').join(''), once.relayed.choices[0]?.text);
  });

  test('an engine 4xx is the client’s error: the same status in OpenAI’s shape at once, streaming or not', async () => {
    const cases = [
      { why: 'an invalid tool_choice', extra: { tools: [WEATHER], tool_choice: 'bogus' }, message: /tool_choice/ },
      { why: 'a grammar that does not parse', extra: { grammar: 'root ::= (' }, message: /grammar/ },
    ];
    for (const { why, extra, message } of cases) {
      const body = { model: 'demo', messages: HI, max_tokens: 4, ...(extra as object) };
      for (const client of [stack().direct, stack().relayed])
        for (const stream of [false, true]) {
          const startedAt = Date.now();
          await assert.rejects(client.chat.completions.create({ ...body, stream }), (error: unknown) => {
            assert.ok(error instanceof OpenAI.BadRequestError, `${why}: ${String(error)}`);
            assert.equal(error.status, 400);
            assert.match(error.message, message);
            return true;
          });
          assert.ok(Date.now() - startedAt < AT_ONCE_MS, `${why} answered at once`);
        }
      const raw = await jsonRequest<{ error: Record<string, unknown> }>(`${stack().cluster.url}/v1/chat/completions`, {
        method: 'POST',
        body,
      });
      assert.equal(raw.status, 400);
      for (const key of ['message', 'type', 'code']) assert.ok(key in raw.body.error, `error.${key}`);
      assert.equal(raw.body.error['type'], 'invalid_request_error');
    }
  });

  test('/v1/models lists the model in OpenAI’s shape with created, owned_by, its state and its pool', async () => {
    const models = await stack().relayed.models.list();
    assert.equal(models.data.length, 1);
    const model = models.data[0] as OpenAI.Models.Model & { state?: unknown; pool_id?: unknown };
    assert.equal(model.id, 'demo');
    assert.equal(model.object, 'model');
    assert.equal(model.owned_by, 'llama-orch');
    const now = Date.now() / 1000;
    assert.ok(Number.isInteger(model.created) && model.created > now - 3600 && model.created <= now + 5, 'unix s');
    assert.equal(typeof model.state, 'string');
    assert.equal(model.pool_id, 'demo');
  });

  // Keep-alive comments are proven where the engine is made quiet on purpose (openai-relay-failures.test.ts).
  test('a /v1 stream is marked unbuffered for proxies and relays every chunk', async () => {
    const raw = await within('the kept-alive stream', STREAM_BUDGET_MS, async (signal) => {
      const response = await stack()
        .relayed.chat.completions.create({ ...LONG, max_tokens: 100, stream: true }, { signal })
        .asResponse();
      return { headers: response.headers, text: await response.text() };
    });
    assert.equal(raw.headers.get('x-accel-buffering'), 'no');
    assert.match(raw.headers.get('content-type') ?? '', /^text\/event-stream/);
    const lines = raw.text.split('\n');
    assert.equal(lines.filter((l) => l.startsWith('data: {')).length, 102, 'role chunk, 100 tokens, finish chunk');
  });

  test('an engine that dies mid-stream ends the stream with an error the openai client raises, never a silent cut', async () => {
    let chunks = 0;
    const following = within('the cut stream', STREAM_BUDGET_MS, async (signal) => {
      const stream = await stack().relayed.chat.completions.create(
        { ...LONG, max_tokens: 1500, stream: true },
        { signal },
      );
      for await (const chunk of stream) {
        chunks += 1;
        if (chunks === 3) killPid(stack().engine.pid);
        assert.equal(chunk.model, 'demo');
      }
    });
    await assert.rejects(following, (error: unknown) => {
      // An error chunk in the stream, not a broken connection: the client raises its `error` object.
      assert.ok(error instanceof OpenAI.APIError, `after ${chunks} chunks: ${String(error)}`);
      assert.ok(!(error instanceof OpenAI.APIConnectionError), String(error));
      assert.equal(typeof (error.error as { message?: unknown } | undefined)?.message, 'string');
      return true;
    });
  });
});
