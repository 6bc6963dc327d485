import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PoolManagerdClient, parseEngineFrame, type EngineFrame } from '../src/index.ts';

/** A real HTTP server on loopback port 0 that answers like pool-managerd would. */
function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

const pool = {
  pool_id: 'p',
  node_id: 'n',
  state: 'ready',
  live: true,
  ready: true,
  draining: false,
  model: 'demo',
  engine: 'llamacpp',
  engine_version: null,
  slots_total: 2,
  slots_free: 1,
  ctx_max: 512,
  device: 'cpu',
  vram_total_bytes: null,
  vram_free_bytes: null,
  last_error: null,
  updated_at: '2026-11-22T10:00:00.000Z',
};

describe('the pool-managerd client', () => {
  let node: { server: Server; url: string };
  const seen: { path: string; headers: IncomingMessage['headers']; body: string }[] = [];
  before(async () => {
    node = await listen((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url === '/v2/pools') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pools: [pool] }));
        } else if (req.url === '/v2/pools/busy/dispatch') {
          res.writeHead(429, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              code: 'REPLICA_EXHAUSTED',
              message: 'every slot is busy',
              retriable: true,
              retry_after_ms: 250,
            }),
          );
        } else if (req.url === '/v2/pools/p/dispatch') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          // Frames split across writes and chunk boundaries, as a real engine's bytes arrive.
          res.write('data: {"content":"Hel","stop":false}\n\nda');
          setTimeout(() => {
            res.write('ta: {"content":"lo","stop":false}\n\n');
            res.end('data: {"content":"","stop":true,"stop_type":"limit","tokens_evaluated":4}\n\n');
          }, 20);
        } else if (req.url === '/v2/pools/p/drain') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"pool_id":"p"}');
        } else if (req.url === '/v2/pools/slow/dispatch') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: {"content":"a","stop":false}\n\n');
          // then silence: the caller aborts
        } else if (req.url === '/v2/pools/picky/dispatch') {
          // llama-server's own answer to a body it cannot take, relayed by pool-managerd as is.
          res.writeHead(400, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              error: { code: 400, message: 'Failed to parse grammar', type: 'invalid_request_error' },
            }),
          );
        } else if (req.url === '/v2/pools/broken/dispatch') {
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"out of memory"}}');
        } else res.writeHead(404).end('not json');
      });
    });
  });
  after(() => {
    node.server.closeAllConnections();
    node.server.close();
  });

  test('lists a node’s pools, and says why when a node cannot be read', async () => {
    const client = await PoolManagerdClient.create({ tls: null, requestTimeoutMs: 1000 });
    try {
      assert.deepEqual(await client.listPools(node.url), { kind: 'listed', pools: [pool] });
      const missing = await client.listPools(`${node.url}/nope`);
      assert.deepEqual(missing, { kind: 'failed', reason: 'HTTP 404' });
      const closed = await listen(() => undefined);
      const deadUrl = closed.url;
      await new Promise<void>((resolve) => closed.server.close(() => resolve()));
      const dead = await client.listPools(deadUrl);
      assert.equal(dead.kind, 'failed');
      assert.match(dead.kind === 'failed' ? dead.reason : '', /ECONNREFUSED/);
    } finally {
      await client.close();
    }
  });

  test('streams a dispatch as typed engine frames and passes the correlation id and trace headers', async () => {
    const client = await PoolManagerdClient.create({ tls: null, requestTimeoutMs: 1000 });
    try {
      const answer = await client.dispatch(
        node.url,
        'p',
        { endpoint: '/completion', body: { prompt: 'x' } },
        { signal: new AbortController().signal, correlationId: 'task-1', headers: { traceparent: 'tp' } },
      );
      assert.equal(answer.kind, 'streaming');
      const frames: EngineFrame[] = [];
      if (answer.kind === 'streaming') for await (const frame of answer.frames) frames.push(frame);
      assert.deepEqual(
        frames.map((f) => f.text),
        ['Hel', 'lo', null],
      );
      const last = frames.at(-1);
      assert.deepEqual(
        { text: last?.text, done: last?.done, finishReason: last?.finishReason, tokensIn: last?.tokensIn },
        { text: null, done: true, finishReason: 'length', tokensIn: 4 },
      );
      const request = seen.find((s) => s.path === '/v2/pools/p/dispatch');
      assert.equal(request?.headers['x-correlation-id'], 'task-1');
      assert.equal(request?.headers['traceparent'], 'tp');
      assert.deepEqual(JSON.parse(request?.body ?? ''), { endpoint: '/completion', body: { prompt: 'x' } });
    } finally {
      await client.close();
    }
  });

  test('tells pool-managerd’s refusals, the engine’s client errors and its failures apart from a node that does not answer', async () => {
    const client = await PoolManagerdClient.create({ tls: null, requestTimeoutMs: 1000 });
    try {
      const signal = new AbortController().signal;
      const engine = { endpoint: '/completion' as const, body: {} };
      const busy = await client.dispatch(node.url, 'busy', engine, { signal, correlationId: 'c' });
      assert.deepEqual(busy, {
        kind: 'refused',
        status: 429,
        envelope: { code: 'REPLICA_EXHAUSTED', message: 'every slot is busy', retriable: true, retry_after_ms: 250 },
      });
      const odd = await client.dispatch(node.url, 'other', engine, { signal, correlationId: 'c' });
      assert.equal(odd.kind, 'refused');
      assert.match(odd.kind === 'refused' ? odd.envelope.message : '', /HTTP 404\): not json/);
      const picky = await client.dispatch(node.url, 'picky', engine, { signal, correlationId: 'c' });
      assert.deepEqual(picky, {
        kind: 'refused',
        status: 400,
        envelope: {
          code: 'INVALID_PARAMS',
          message: 'llama-server refused the request (HTTP 400): Failed to parse grammar',
          retriable: false,
          engine: 'llamacpp',
        },
      });
      const broken = await client.dispatch(node.url, 'broken', engine, { signal, correlationId: 'c' });
      assert.equal(broken.kind === 'refused' ? broken.envelope.code : broken.kind, 'WORKER_RESET');
      assert.equal(broken.kind === 'refused' ? broken.envelope.retriable : null, true);
      const unreachable = await client.dispatch('http://127.0.0.1:1', 'p', engine, { signal, correlationId: 'c' });
      assert.equal(unreachable.kind, 'unreachable');
    } finally {
      await client.close();
    }
  });

  test('an abort ends a dispatch stream that has gone quiet', async () => {
    const client = await PoolManagerdClient.create({ tls: null, requestTimeoutMs: 1000 });
    try {
      const abort = new AbortController();
      const answer = await client.dispatch(
        node.url,
        'slow',
        { endpoint: '/completion', body: {} },
        { signal: abort.signal, correlationId: 'c' },
      );
      assert.equal(answer.kind, 'streaming');
      if (answer.kind !== 'streaming') return;
      const texts: (string | null)[] = [];
      await assert.rejects(async () => {
        for await (const frame of answer.frames) {
          texts.push(frame.text);
          abort.abort(new Error('canceled by the test'));
        }
      });
      assert.deepEqual(texts, ['a']);
    } finally {
      await client.close();
    }
  });

  test('passes a drain to pool-managerd and returns its answer as is', async () => {
    const client = await PoolManagerdClient.create({ tls: null, requestTimeoutMs: 1000 });
    try {
      const answer = await client.control(node.url, 'p', 'drain', '{"deadline_ms":10}', 'corr');
      assert.deepEqual(answer, { kind: 'answered', status: 200, body: '{"pool_id":"p"}' });
      assert.equal(seen.find((s) => s.path === '/v2/pools/p/drain')?.body, '{"deadline_ms":10}');
      const dead = await client.control('http://127.0.0.1:1', 'p', 'drain', '{}', 'corr');
      assert.equal(dead.kind, 'unreachable');
    } finally {
      await client.close();
    }
  });

  test('reads every engine answer format: native, OpenAI, Responses and Messages, streamed or whole', () => {
    const meaning = (frame: EngineFrame | null) =>
      frame === null
        ? null
        : {
            text: frame.text,
            output: frame.output,
            done: frame.done,
            finishReason: frame.finishReason,
            tokensIn: frame.tokensIn,
            tokensOut: frame.tokensOut,
            error: frame.error,
          };
    const none = {
      text: null,
      output: false,
      done: false,
      finishReason: null,
      tokensIn: null,
      tokensOut: null,
      error: null,
    };
    assert.deepEqual(meaning(parseEngineFrame('/completion', '{"content":" hi","stop":false}')), {
      ...none,
      text: ' hi',
      output: true,
    });
    assert.deepEqual(
      meaning(
        parseEngineFrame(
          '/completion',
          '{"content":"","stop":true,"stop_type":"limit","tokens_evaluated":7,"tokens_predicted":3}',
        ),
      ),
      { ...none, done: true, finishReason: 'length', tokensIn: 7, tokensOut: 3 },
    );
    const chunk = parseEngineFrame(
      '/v1/chat/completions',
      '{"choices":[{"delta":{"content":"x"},"finish_reason":null}]}',
    );
    assert.equal(chunk?.text, 'x');
    assert.equal(chunk?.data, '{"choices":[{"delta":{"content":"x"},"finish_reason":null}]}', 'kept as received');
    const toolCall = parseEngineFrame(
      '/v1/chat/completions',
      '{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]},"finish_reason":null}]}',
    );
    assert.deepEqual(meaning(toolCall), { ...none, output: true }, 'a tool-call fragment is output without text');
    assert.equal(
      parseEngineFrame('/v1/chat/completions', '{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}')?.finishReason,
      'tool_calls',
    );
    assert.deepEqual(
      meaning(
        parseEngineFrame('/v1/chat/completions', '{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}'),
      ),
      { ...none, tokensIn: 9, tokensOut: 4 },
    );
    assert.deepEqual(
      meaning(
        parseEngineFrame(
          '/v1/chat/completions',
          '{"choices":[{"delta":{},"finish_reason":"length"}],"timings":{"cache_n":20,"prompt_n":3,"predicted_n":8}}',
        ),
      ),
      { ...none, finishReason: 'length', tokensIn: 23, tokensOut: 8 },
      'without a usage chunk the counts come from the timings',
    );
    assert.deepEqual(
      meaning(parseEngineFrame('/v1/chat/completions', '{"error":{"code":400,"message":"bad grammar"}}'))?.error,
      { status: 400, message: 'bad grammar' },
    );
    assert.deepEqual(
      meaning(parseEngineFrame('/v1/completions', '{"choices":[{"text":"y","finish_reason":"stop"}]}')),
      { ...none, text: 'y', output: true, finishReason: 'stop' },
    );
    assert.equal(parseEngineFrame('/v1/completions', '[DONE]')?.done, true);
    assert.equal(parseEngineFrame('/completion', 'not json'), null);

    const delta = parseEngineFrame(
      '/v1/messages',
      '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
      'content_block_delta',
    );
    assert.equal(delta?.event, 'content_block_delta');
    assert.equal(delta?.text, 'Hi');
    assert.deepEqual(
      meaning(
        parseEngineFrame(
          '/v1/messages',
          '{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":6}}',
        ),
      ),
      { ...none, finishReason: 'max_tokens', tokensOut: 6 },
    );
    assert.equal(parseEngineFrame('/v1/messages', '{"type":"message_stop"}')?.done, true);
    assert.deepEqual(meaning(parseEngineFrame('/v1/messages/count_tokens', '{"input_tokens":31}')), {
      ...none,
      done: true,
      finishReason: 'stop',
      tokensIn: 31,
      tokensOut: 0,
    });
    const whole = parseEngineFrame(
      '/v1/messages',
      '{"type":"message","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}',
    );
    assert.deepEqual(meaning(whole), {
      ...none,
      text: 'Hello',
      output: true,
      finishReason: 'end_turn',
      tokensIn: 3,
      tokensOut: 1,
    });
    assert.equal(
      parseEngineFrame(
        '/v1/responses',
        '{"type":"response.output_text.delta","delta":"He"}',
        'response.output_text.delta',
      )?.text,
      'He',
    );
    assert.deepEqual(
      meaning(
        parseEngineFrame(
          '/v1/responses',
          '{"type":"response.completed","response":{"object":"response","usage":{"input_tokens":5,"output_tokens":2}}}',
        ),
      ),
      { ...none, finishReason: 'stop', tokensIn: 5, tokensOut: 2 },
    );
  });

  test('reads embeddings and rerank answers as one whole piece that ends the task with its prompt tokens', () => {
    for (const [endpoint, body] of [
      [
        '/v1/embeddings',
        '{"model":"m","object":"list","usage":{"prompt_tokens":6,"total_tokens":6},"data":[{"embedding":[0.1],"index":0,"object":"embedding"}]}',
      ],
      [
        '/v1/rerank',
        '{"model":"m","object":"list","usage":{"prompt_tokens":9,"total_tokens":9},"results":[{"index":1,"relevance_score":0.5}]}',
      ],
    ] as const) {
      const frame = parseEngineFrame(endpoint, body);
      assert.equal(frame?.data, body, 'kept as received');
      assert.deepEqual(
        [frame?.output, frame?.done, frame?.finishReason, frame?.tokensIn, frame?.tokensOut, frame?.error],
        [true, true, 'stop', endpoint === '/v1/embeddings' ? 6 : 9, 0, null],
        endpoint,
      );
    }
    const refused = parseEngineFrame(
      '/v1/embeddings',
      '{"error":{"code":400,"message":"Input content cannot be empty"}}',
    );
    assert.deepEqual(refused?.error, { status: 400, message: 'Input content cannot be empty' });
    assert.equal(refused?.finishReason, null);
  });
});
