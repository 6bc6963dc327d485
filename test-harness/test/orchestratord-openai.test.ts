import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';

describe('orchestratord OpenAI-compatible API with the official openai client', { timeout: 45 * 60_000 }, () => {
  test('lists models, streams and non-streams chat and completions with usage, and answers errors in OpenAI’s shape', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 2 }]]);
    t.after(cluster.cleanup);
    const client = new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: 'unused-on-loopback', maxRetries: 0 });

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

    const stream = await client.chat.completions.create({
      model: 'demo',
      messages: [{ role: 'user', content: 'Count' }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
      // llama.cpp extension fields pass through to the engine untouched
      ...({ top_k: 5, ignore_eos: true } as object),
    });
    let text = '';
    let pieces = 0;
    let usage: { completion_tokens: number } | null = null;
    let finish: string | null = null;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content;
      if (delta) {
        text += delta;
        pieces += 1;
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(pieces, 8);
    assert.ok(text.length > 0);
    assert.equal(finish, 'length');
    assert.equal(usage?.completion_tokens, 8);

    const completion = await client.completions.create({ model: 'demo', prompt: 'Once upon a time', max_tokens: 5 });
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.usage?.completion_tokens, 5);
    let streamed = 0;
    for await (const part of await client.completions.create({
      model: 'demo',
      prompt: 'Once',
      max_tokens: 4,
      stream: true,
    })) {
      if (part.choices[0]?.text) streamed += 1;
    }
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
