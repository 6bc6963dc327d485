import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { STREAM_BUDGET_MS, within } from '../src/sse.ts';

describe('orchestratord OpenAI-compatible API with the official openai client', { timeout: 45 * 60_000 }, () => {
  test('lists models, streams and non-streams chat and completions with usage, and answers errors in OpenAI’s shape', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 2 }]]);
    t.after(cluster.cleanup);
    const client = new OpenAI({
      baseURL: `${cluster.url}/v1`,
      apiKey: 'unused-on-loopback',
      maxRetries: 0,
      timeout: STREAM_BUDGET_MS,
    });

    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['demo'],
    );

    const chat = await client.chat.completions.create({
      model: 'demo',
      messages: [{ role: 'user', content: 'Say hi' }],
      max_tokens: 6,
      temperature: 0,
    });
    assert.equal(chat.object, 'chat.completion');
    assert.equal(chat.choices[0]?.message.role, 'assistant');
    assert.equal(chat.choices[0]?.finish_reason, 'length');
    assert.equal(chat.usage?.completion_tokens, 6);
    assert.ok((chat.usage?.prompt_tokens ?? 0) > 0);

    const streamedChat = {
      text: '',
      pieces: 0,
      usage: null as { completion_tokens: number } | null,
      finish: null as string | null,
    };
    await within(
      'the streamed chat completion',
      STREAM_BUDGET_MS,
      async (signal) => {
        const stream = await client.chat.completions.create(
          {
            model: 'demo',
            messages: [{ role: 'user', content: 'Count' }],
            max_tokens: 8,
            stream: true,
            stream_options: { include_usage: true },
            // llama.cpp extension fields pass through to the engine untouched
            ...({ top_k: 5, ignore_eos: true } as object),
          },
          { signal },
        );
        for await (const chunk of stream) {
          const delta = chunk.choices[0]?.delta.content;
          if (delta) {
            streamedChat.text += delta;
            streamedChat.pieces += 1;
          }
          streamedChat.finish = chunk.choices[0]?.finish_reason ?? streamedChat.finish;
          if (chunk.usage) streamedChat.usage = chunk.usage;
        }
      },
      () => `${streamedChat.pieces} content chunks, finish_reason ${streamedChat.finish ?? 'none'}`,
    );
    assert.equal(streamedChat.pieces, 8);
    assert.ok(streamedChat.text.length > 0);
    assert.equal(streamedChat.finish, 'length');
    assert.equal(streamedChat.usage?.completion_tokens, 8);

    const completion = await client.completions.create({ model: 'demo', prompt: 'Once upon a time', max_tokens: 5 });
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.usage?.completion_tokens, 5);
    let streamed = 0;
    await within(
      'the streamed completion',
      STREAM_BUDGET_MS,
      async (signal) => {
        for await (const part of await client.completions.create(
          { model: 'demo', prompt: 'Once', max_tokens: 4, stream: true },
          { signal },
        )) {
          if (part.choices[0]?.text) streamed += 1;
        }
      },
      () => `${streamed} text chunks`,
    );
    assert.equal(streamed, 4);

    await assert.rejects(
      client.chat.completions.create({ model: 'llama-70b', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError);
        assert.equal(error.status, 404);
        assert.equal(error.code, 'model_not_available');
        return true;
      },
    );
    const bad = await jsonRequest<{ error: { message: string; type: string; param: string | null } }>(
      `${cluster.url}/v1/chat/completions`,
      {
        method: 'POST',
        body: { model: 'demo', messages: [], temperature: 9 },
      },
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.type, 'invalid_request_error');
    assert.equal(bad.body.error.param, 'temperature', 'param names the first bad field');
    assert.match(bad.body.error.message, /temperature: .*; messages: /);
  });
});
