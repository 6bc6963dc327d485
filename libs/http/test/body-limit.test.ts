import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import { z } from 'zod';
import { bodySizeLimit, readBody, sendError, serveHttp, type EdgeEnv } from '../src/index.ts';

const LIMIT = 1024;

/** A real server whose POST /echo reads a JSON body through readBody behind bodySizeLimit(LIMIT). */
async function served() {
  const app = new Hono<EdgeEnv>();
  app.use(bodySizeLimit(LIMIT));
  app.post('/echo', async (c) => {
    const body = await readBody(c, z.object({ text: z.string() }));
    if (!body.ok) return sendError(c, body.envelope);
    return c.json({ length: body.value.text.length });
  });
  return serveHttp(app.fetch, { host: '127.0.0.1', port: 0, tls: null });
}

/** POST `pieces` one write each: with `length` as its Content-Length, or chunked when it is null. */
function post(url: string, pieces: readonly string[], length: number | null) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (length !== null) headers['content-length'] = String(length);
    const req = httpRequest(`${url}/echo`, { method: 'POST', headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => {
        // The connection is not reused: one that declared a body it never sent is out of step with the server.
        resolve({
          status: res.statusCode ?? 0,
          body: (text === '' ? { text: '(empty)' } : JSON.parse(text)) as Record<string, unknown>,
        });
        req.destroy();
      });
    });
    // The server may answer (and close) before an oversized body is all sent.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

const json = (chars: number): string => JSON.stringify({ text: 'x'.repeat(chars) });

describe('bodySizeLimit: bodies past the limit are refused with 413, the rest are read whole', () => {
  test('a declared length is judged by its header, a chunked body as it is read', { timeout: 15_000 }, async (t) => {
    const server = await served();
    t.after(() => server.close(100));

    const small = json(100);
    const declared = await post(server.url, [small], Buffer.byteLength(small));
    assert.deepEqual(declared, { status: 200, body: { length: 100 } }, JSON.stringify(declared));

    const chunked = await post(server.url, [small.slice(0, 50), small.slice(50)], null);
    assert.deepEqual(chunked, { status: 200, body: { length: 100 } });

    // Only the headers say it is too large: the answer comes before any of the body is sent.
    const tooLong = await post(server.url, [], LIMIT + 1);
    assert.equal(tooLong.status, 413);
    assert.equal(tooLong.body['code'], 'PAYLOAD_TOO_LARGE');
    assert.match(String(tooLong.body['message']), /body: larger than the limit of 1024 bytes/);

    // No length declared: the body is counted as it comes, in pieces that are each under the limit.
    const big = json(3 * LIMIT);
    const tooMany = await post(server.url, [big.slice(0, 700), big.slice(700, 1400), big.slice(1400)], null);
    assert.equal(tooMany.status, 413, JSON.stringify(tooMany));
    assert.equal(tooMany.body['code'], 'PAYLOAD_TOO_LARGE');
  });

  test(
    'a 413 to a chunked body closes its connection (its rest is never read); after one to a declared length, the connection answers the next request',
    { timeout: 15_000 },
    async (t) => {
      const server = await served();
      t.after(() => server.close(100));
      const { port } = new URL(server.url);
      /** Send `head` and `pieces` on one socket and read until the server closes it (or 5 s pass). */
      const exchange = (head: string, pieces: readonly string[]) =>
        new Promise<{ answer: string; closed: boolean }>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1');
          let answer = '';
          const timer = setTimeout(() => {
            socket.destroy();
            resolve({ answer, closed: false });
          }, 5_000);
          socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
          socket.on('end', () => {
            clearTimeout(timer);
            socket.destroy();
            resolve({ answer, closed: true });
          });
          socket.on('error', (error: NodeJS.ErrnoException) => {
            if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return; // it may close before we are done
            clearTimeout(timer);
            reject(error);
          });
          socket.write(head);
          for (const piece of pieces) socket.write(piece);
        });
      const head = (framing: string): string =>
        `POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n${framing}\r\n\r\n`;

      const big = json(3 * LIMIT);
      const chunks = [big.slice(0, 700), big.slice(700, 1400), big.slice(1400)].map(
        (piece) => `${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`,
      );
      const chunked = await exchange(head('Transfer-Encoding: chunked'), chunks);
      assert.match(chunked.answer, /^HTTP\/1\.1 413 /, chunked.answer);
      assert.match(chunked.answer, /\r\nconnection: close\r\n/i, chunked.answer);
      assert.ok(chunked.closed, 'the server closed the connection after its 413');

      // A declared length: Node reads and drops the rest of the body, and the connection answers the next request.
      const small = json(10);
      const declared = await exchange(head(`Content-Length: ${LIMIT + 1}`), [
        'x'.repeat(LIMIT + 1),
        `POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(small)}\r\n\r\n${small}`,
      ]);
      assert.match(declared.answer, /^HTTP\/1\.1 413 /, declared.answer);
      assert.match(
        declared.answer,
        /\r\n\r\n\{"length":10\}$/,
        `the next request on it was answered: ${declared.answer}`,
      );
    },
  );
});
