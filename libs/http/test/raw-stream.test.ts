import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import { rawStream, serveHttp } from '../src/index.ts';

/** A real server with the routes `define` adds behind a middleware that sets a header, as the edge does. */
async function served(define: (app: Hono) => void) {
  const app = new Hono();
  app.use(async (c, next) => {
    c.header('x-correlation-id', 'corr-1');
    await next();
  });
  define(app);
  return serveHttp(app.fetch, { host: '127.0.0.1', port: 0, tls: null });
}

/** The status, headers and whole body of one GET; `error` when the connection broke before the end. */
function get(url: string, onFirstData?: (close: () => void) => void) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string; error: string | null }>(
    (resolve) => {
      const req = httpRequest(url, (res) => {
        let body = '';
        let first = true;
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString('utf8');
          if (first) onFirstData?.(() => req.destroy());
          first = false;
        });
        const done = (error: string | null) =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, error });
        res.on('end', () => done(null));
        res.on('error', (error) => done(error.message));
        res.on('close', () => done(res.complete ? null : 'closed before the end'));
      });
      req.on('error', (error) => resolve({ status: 0, headers: {}, body: '', error: error.message }));
      req.end();
    },
  );
}

describe('raw streams: answers written straight to the Node response', () => {
  test('carry the middleware’s headers and the route’s, the text as written, and leave the connection reusable', async (t) => {
    const server = await served((app) =>
      app.get('/s', (c) => {
        const stream = rawStream(c, 200, { 'content-type': 'text/event-stream' });
        void (async () => {
          await stream.write('data: 1\n\n');
          await stream.write('data: 2\n\n');
          stream.end();
        })();
        return stream.response;
      }),
    );
    t.after(() => server.close(100));
    for (let i = 0; i < 3; i += 1) {
      const answer = await get(`${server.url}/s`);
      assert.equal(answer.error, null);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], 'text/event-stream');
      assert.equal(answer.headers['x-correlation-id'], 'corr-1');
      assert.equal(answer.body, 'data: 1\n\ndata: 2\n\n');
    }
  });

  test('pipe a Node stream to its end; destroy cuts the answer so the client sees it broken', async (t) => {
    const server = await served((app) => {
      app.get('/whole', (c) => {
        const stream = rawStream(c, 200, { 'content-type': 'text/plain' });
        stream.pipe(Readable.from(['a', 'b', 'c']));
        return stream.response;
      });
      app.get('/broken', (c) => {
        const stream = rawStream(c, 200, { 'content-type': 'text/plain' });
        void stream.write('partial').then(() => setTimeout(() => stream.destroy(new Error('engine died')), 50));
        return stream.response;
      });
    });
    t.after(() => server.close(100));
    const whole = await get(`${server.url}/whole`);
    assert.deepEqual([whole.body, whole.error], ['abc', null]);
    const broken = await get(`${server.url}/broken`);
    assert.equal(broken.body, 'partial');
    assert.notEqual(broken.error, null, 'a cut answer is not a whole one');
  });

  test('tell the route once when the client goes away; writes after that resolve at once', async (t) => {
    let closes = 0;
    const after: { write: Promise<void> | null } = { write: null };
    const server = await served((app) =>
      app.get('/endless', (c) => {
        const stream = rawStream(c, 200, { 'content-type': 'text/plain' });
        stream.onClose(() => {
          closes += 1;
          after.write = stream.write('x'.repeat(1 << 20));
        });
        void stream.write('first');
        return stream.response;
      }),
    );
    t.after(() => server.close(100));
    await get(`${server.url}/endless`, (close) => close());
    for (let i = 0; i < 100 && closes === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(closes, 1);
    assert.ok(after.write, 'a write after the close');
    await after.write;
  });
});
