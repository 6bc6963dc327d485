import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { AdmissionResponse, ErrorEnvelope, PoolList } from '@llama-orch/contracts';
import { startCluster, type Cluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { followEvents, summarize } from '../src/sse.ts';

/** Every request here is answered within this budget (the demo engines answer in milliseconds). */
const ANSWER_MS = 60_000;
/** The embedding pool's context, and so its engine's batch (-b and -ub): the batch test goes past it. */
const EMBED_CTX = 1024;
/** The demo model's vector size (its embedding_length). */
const DEMO_DIMENSIONS = 64;

interface RerankAnswer {
  model: string;
  object: string;
  results: { index: number; relevance_score: number; document?: { text: string } }[];
  usage: { prompt_tokens: number; total_tokens: number };
}
interface OpenAIError {
  error: { message: string; code: string; param: string | null };
}

/** The demo model served three ways on one node: pool ids name the kind, the model name `demo` is shared. */
describe('embeddings and rerank from pools of those kinds (issue 17)', { timeout: 20 * 60_000 }, () => {
  let cluster: Cluster;
  let client: OpenAI;
  before(async () => {
    cluster = await startCluster([
      [
        { id: 'chat', slots: 1 },
        { id: 'embed', slots: 2, ctx: EMBED_CTX, kind: 'embedding' },
        { id: 'ranker', slots: 2, kind: 'rerank' },
      ],
    ]);
    client = new OpenAI({
      baseURL: `${cluster.url}/v1`,
      apiKey: 'unused-on-loopback',
      maxRetries: 0,
      timeout: ANSWER_MS,
    });
  });
  after(() => cluster.cleanup());

  test('GET /v2/pools reports each pool’s kind, on orchestratord and on its pool-managerd', async () => {
    for (const url of [cluster.url, cluster.nodes[0]?.url ?? '']) {
      const { body } = await jsonRequest<PoolList>(`${url}/v2/pools`, { timeoutMs: ANSWER_MS });
      const kinds = Object.fromEntries(body.pools.map((p) => [p.pool_id, p.kind]));
      assert.deepEqual(kinds, { chat: 'completion', embed: 'embedding', ranker: 'rerank' }, url);
    }
  });

  test('the openai client embeds a string and an array, as floats and as base64, with usage', async () => {
    const one = await client.embeddings.create({ model: 'demo', input: 'Hello, embeddings', encoding_format: 'float' });
    assert.equal(one.object, 'list');
    assert.equal(one.model, 'demo');
    assert.equal(one.data.length, 1);
    assert.equal(one.data[0]?.embedding.length, DEMO_DIMENSIONS);
    assert.ok(one.usage.prompt_tokens > 0);
    assert.equal(one.usage.total_tokens, one.usage.prompt_tokens);

    const inputs = ['first text', 'a second, longer text than the first', 'third'];
    const floats = await client.embeddings.create({ model: 'demo', input: inputs, encoding_format: 'float' });
    assert.deepEqual(
      floats.data.map((d) => d.index),
      [0, 1, 2],
    );
    // The client asks for base64 by default and decodes it: the same vectors, to float32 precision.
    const decoded = await client.embeddings.create({ model: 'demo', input: inputs });
    assert.equal(decoded.data.length, 3);
    for (const [i, item] of decoded.data.entries()) {
      const expected = floats.data[i]?.embedding ?? [];
      assert.equal(item.embedding.length, DEMO_DIMENSIONS);
      item.embedding.forEach((value, d) => assert.ok(Math.abs(value - (expected[d] ?? NaN)) < 1e-6, `${i}/${d}`));
    }
    assert.equal(decoded.usage.prompt_tokens, floats.usage.prompt_tokens);
    // Asked for as base64 explicitly (raw fetch): each vector is the little-endian float32 bytes.
    const raw = await jsonRequest<{ data: { embedding: string }[] }>(`${cluster.url}/v1/embeddings`, {
      method: 'POST',
      body: { model: 'demo', input: 'Hello, embeddings', encoding_format: 'base64' },
      timeoutMs: ANSWER_MS,
    });
    assert.equal(raw.status, 200);
    assert.equal(Buffer.from(raw.body.data[0]?.embedding ?? '', 'base64').length, DEMO_DIMENSIONS * 4);
    // Token ids are input too.
    const tokens = await client.embeddings.create({ model: 'demo', input: [[15496, 11], [995]] });
    assert.equal(tokens.data.length, 2);
    assert.equal(tokens.usage.prompt_tokens, 3);
  });

  test('inputs whose tokens exceed the engine batch, each longer than llama-server’s default batch, are embedded', async () => {
    const long = (n: number) => Array.from({ length: 170 }, (_, i) => `word${n}-${i}`).join(' ');
    const inputs = Array.from({ length: 6 }, (_, n) => long(n));
    const answer = await client.embeddings.create({ model: 'demo', input: inputs, encoding_format: 'float' });
    assert.equal(answer.data.length, inputs.length);
    for (const item of answer.data) assert.equal(item.embedding.length, DEMO_DIMENSIONS);
    const perInput = answer.usage.prompt_tokens / inputs.length;
    assert.ok(perInput > 512, `each input is longer than the default batch of 512 (${perInput} tokens each)`);
    assert.ok(perInput < EMBED_CTX, `each input fits the pool's ctx (${perInput} tokens)`);
    assert.ok(answer.usage.prompt_tokens > EMBED_CTX, `${answer.usage.prompt_tokens} tokens in all, past the batch`);

    // One input past the pool's ctx is the client's error, answered at once; the pool stays in placement.
    await assert.rejects(client.embeddings.create({ model: 'demo', input: long(0).repeat(3) }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 400);
      assert.match(error.message, /each input must fit the pool's ctx/);
      return true;
    });
    const again = await client.embeddings.create({ model: 'demo', input: 'still served' });
    assert.equal(again.data.length, 1);
  });

  test('rerank answers the documents best first with index and relevance_score, top_n and return_documents', async () => {
    const documents = ['The giant panda is a bear native to China.', 'Paris is in France.', 'Hello there.'];
    const all = await jsonRequest<RerankAnswer>(`${cluster.url}/v1/rerank`, {
      method: 'POST',
      body: { model: 'demo', query: 'What is a panda?', documents },
      timeoutMs: ANSWER_MS,
    });
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.equal(all.body.model, 'demo');
    assert.deepEqual(all.body.results.map((r) => r.index).sort(), [0, 1, 2]);
    const scores = all.body.results.map((r) => r.relevance_score);
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
      'best first',
    );
    assert.ok(all.body.usage.prompt_tokens > 0);
    assert.equal(all.body.results[0]?.document, undefined);

    const top = await jsonRequest<RerankAnswer>(`${cluster.url}/v1/rerank`, {
      method: 'POST',
      body: {
        model: 'demo',
        query: 'What is a panda?',
        documents: documents.map((text) => ({ text })),
        top_n: 2,
        return_documents: true,
      },
      timeoutMs: ANSWER_MS,
    });
    assert.equal(top.status, 200, JSON.stringify(top.body));
    assert.equal(top.body.results.length, 2);
    for (const result of top.body.results) assert.deepEqual(result.document, { text: documents[result.index] });
    assert.deepEqual(
      top.body.results.map((r) => r.index),
      all.body.results.slice(0, 2).map((r) => r.index),
    );
  });

  test('a model served only for completion asked for embeddings or rerank is a 404 naming the missing kind', async () => {
    await assert.rejects(client.embeddings.create({ model: 'chat', input: 'x' }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 404);
      assert.match(error.message, /model chat is served for completion only: no pool of kind embedding serves it/);
      return true;
    });
    const rerank = await jsonRequest<OpenAIError>(`${cluster.url}/v1/rerank`, {
      method: 'POST',
      body: { model: 'chat', query: 'q', documents: ['d'] },
      timeoutMs: ANSWER_MS,
    });
    assert.equal(rerank.status, 404);
    assert.match(rerank.body.error.message, /no pool of kind rerank serves it/);
    // And the other way round: an embedding-only model does not complete.
    const chat = await jsonRequest<OpenAIError>(`${cluster.url}/v1/chat/completions`, {
      method: 'POST',
      body: { model: 'embed', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 },
      timeoutMs: ANSWER_MS,
    });
    assert.equal(chat.status, 404);
    assert.match(chat.body.error.message, /served for embedding only: no pool of kind completion serves it/);
  });

  test('bad embeddings and rerank requests are 400s naming the field, dimensions included', async () => {
    const cases: [string, unknown, string][] = [
      ['/v1/embeddings', { model: 'demo', input: 'x', dimensions: 32 }, 'dimensions'],
      ['/v1/embeddings', { model: 'demo', input: [] }, 'input'],
      ['/v1/embeddings', { model: 'demo', input: 'x', encoding_format: 'int8' }, 'encoding_format'],
      ['/v1/rerank', { model: 'demo', query: 'q', documents: [] }, 'documents'],
      ['/v1/rerank', { model: 'demo', documents: ['d'] }, 'query'],
    ];
    for (const [path, body, param] of cases) {
      const answer = await jsonRequest<OpenAIError>(`${cluster.url}${path}`, {
        method: 'POST',
        body,
        timeoutMs: ANSWER_MS,
      });
      assert.equal(answer.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal(answer.body.error.param, param, answer.body.error.message);
      assert.equal(answer.body.error.code, 'invalid_params');
    }
  });

  test('embeddings and rerank go through the same task metrics as completions', async () => {
    const metrics = await fetch(`${cluster.url}/metrics`, { signal: AbortSignal.timeout(ANSWER_MS) }).then((r) =>
      r.text(),
    );
    for (const pool of ['embed', 'ranker'])
      assert.match(metrics, new RegExp(`tasks_started_total\\{[^}]*pool_id="${pool}"[^}]*\\} [1-9]`), pool);
  });

  test('/v2/tasks with workload embedding and rerank ends with the vectors and the ranked inputs, as /v1 gives them', async () => {
    const inputs = ['first text', 'second, rather different text', 'third'];
    const run = async (body: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const admitted = await jsonRequest<AdmissionResponse & ErrorEnvelope>(`${cluster.url}/v2/tasks`, {
        method: 'POST',
        body,
        timeoutMs: ANSWER_MS,
      });
      assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
      const { events } = await followEvents(`${cluster.url}${admitted.body.streams.sse}`, { timeoutMs: ANSWER_MS });
      assert.deepEqual(
        events.map((e) => e.event),
        ['started', 'end'],
        summarize(events),
      );
      assert.equal(events[0]?.data['pool_id'], body['workload'] === 'embedding' ? 'embed' : 'ranker');
      return events[1]?.data ?? {};
    };
    const embedded = await run({ workload: 'embedding', model_ref: 'demo', inputs });
    const vectors = embedded['embeddings'] as number[][];
    assert.equal(vectors.length, inputs.length);
    for (const vector of vectors) assert.equal(vector.length, DEMO_DIMENSIONS);
    const direct = await client.embeddings.create({ model: 'demo', input: inputs, encoding_format: 'float' });
    assert.deepEqual(
      vectors,
      direct.data.map((d) => d.embedding),
      'the same vectors, in input order',
    );
    assert.ok(Number(embedded['tokens_in']) > 0);

    const ranked = await run({ workload: 'rerank', model_ref: 'demo', prompt: 'which text?', inputs });
    const results = ranked['results'] as { index: number; relevance_score: number }[];
    assert.deepEqual(results.map((r) => r.index).sort(), [0, 1, 2]);
    for (let i = 1; i < results.length; i += 1)
      assert.ok((results[i - 1]?.relevance_score ?? 0) >= (results[i]?.relevance_score ?? 0), 'best first');

    // The chat pool serves completion only: a workload it cannot serve is named at once.
    const refused = await jsonRequest<ErrorEnvelope>(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      body: { workload: 'embedding', model_ref: 'demo', inputs, placement: { mode: 'pin', pin_pool_id: 'chat' } },
      timeoutMs: ANSWER_MS,
    });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
  });
});
