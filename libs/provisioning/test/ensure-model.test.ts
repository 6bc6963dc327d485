import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ensureModel, ModelError } from '../src/index.ts';
import { DEMO_CHAT_TEMPLATE, DEMO_VOCABULARY } from '../src/model/demo-model.ts';
import { downloadResumable } from '../src/model/download.ts';
import { tinyVocabGguf } from './vocab-fixture.ts';

const noVocab = (): Promise<string> => Promise.reject(new Error('no vocabulary needed'));

interface FileServer {
  readonly base: string;
  readonly requests: { path: string; range: string | undefined }[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that serves bodies with Range support and can cut a response short. */
async function serve(files: Record<string, Buffer>, cutFirstResponseAt?: number): Promise<FileServer> {
  const requests: { path: string; range: string | undefined }[] = [];
  let cut = cutFirstResponseAt;
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, range: req.headers.range });
    if (path === '/redirect') {
      res.writeHead(302, { location: '/model.gguf' }).end();
      return;
    }
    const body = files[path];
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const part = body.subarray(from);
    res.writeHead(from > 0 ? 206 : 200, { 'content-length': part.length });
    if (cut !== undefined) {
      res.write(part.subarray(0, cut), () => res.destroy());
      cut = undefined;
      return;
    }
    res.end(part);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const model = tinyVocabGguf(2000);
const digest = createHash('sha256').update(model).digest('hex');

const MB = 1024 * 1024;

async function listening(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface LazyServer {
  readonly base: string;
  /** Bytes of the body handed to the connection so far. */
  sent(): number;
  /** Resolves when the response's connection closes: true when the whole body went out. */
  readonly whole: Promise<boolean>;
  close(): Promise<void>;
}

/** A real HTTP server that answers 200 with `size` bytes of `chunk` repeated, written only as the client reads. */
async function lazyServer(contentType: string, size: number, chunk: Buffer): Promise<LazyServer> {
  let sent = 0;
  let closed: (whole: boolean) => void = () => {};
  const whole = new Promise<boolean>((resolve) => (closed = resolve));
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': contentType, 'content-length': size });
    res.once('close', () => closed(res.writableFinished));
    const pump = (): void => {
      while (sent < size) {
        const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const port = await listening(server);
  return {
    base: `http://127.0.0.1:${port}`,
    sent: () => sent,
    whole,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A real TCP server that accepts connections and answers each with `reply` (nothing at all when null). */
async function tcpServer(reply: string | null): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    if (reply !== null) socket.end(reply);
  });
  const port = await listening(server);
  return {
    port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A temp dir for one test, removed after it, and the hf-style model path inside it. */
async function cacheDir(t: { after(fn: () => Promise<void>): void }): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'llorch-dl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { dir, path: join(dir, 'models', 'hf', 'org', 'repo', 'm.gguf') };
}

/** The ModelError a download fails with, and how many milliseconds it took to fail. */
async function failure(
  url: string,
  path: string,
  headersTimeoutMs?: number,
): Promise<{ code: string; message: string; ms: number }> {
  const began = performance.now();
  const error = await ensureModel(
    { kind: 'download', url, path },
    { vocabSourceDir: noVocab, ...(headersTimeoutMs === undefined ? {} : { headersTimeoutMs }) },
  ).then(
    () => assert.fail(`the download of ${url} succeeded`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ModelError, String(error));
  return { code: error.code, message: error.message, ms: performance.now() - began };
}

describe('model downloads', () => {
  test('resume a cut download with a Range request and verify the sha256', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-dl-'));
    const server = await serve({ '/model.gguf': model }, 1000);
    t.after(async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    });
    const partial = join(dir, 'm.gguf.partial');
    await assert.rejects(downloadResumable(`${server.base}/model.gguf`, partial));
    assert.equal((await stat(partial)).size, 1000);

    const path = join(dir, 'models', 'm.gguf');
    await mkdir(join(dir, 'models'));
    await writeFile(`${path}.partial`, model.subarray(0, 1000));
    const ready = await ensureModel(
      { kind: 'download', url: `${server.base}/redirect`, path },
      { expectedSha256: digest, vocabSourceDir: noVocab },
    );
    assert.deepEqual(ready, { path, sha256: digest });
    assert.deepEqual(await readFile(path), model);
    assert.deepEqual(server.requests.slice(-2), [
      { path: '/redirect', range: 'bytes=1000-' },
      { path: '/model.gguf', range: 'bytes=1000-' },
    ]);

    const before = server.requests.length;
    await ensureModel(
      { kind: 'download', url: `${server.base}/model.gguf`, path },
      { expectedSha256: digest, vocabSourceDir: noVocab },
    );
    assert.equal(server.requests.length, before, 'a verified file is not downloaded again');
  });

  test('refuse a sha256 mismatch, a non-GGUF body and an HTTP error, leaving no file behind', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-dl-'));
    const server = await serve({ '/model.gguf': model, '/page.gguf': Buffer.from('<html>login</html>') });
    t.after(async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    });
    const path = join(dir, 'm.gguf');
    const wrong = 'f'.repeat(64);
    await assert.rejects(
      ensureModel(
        { kind: 'download', url: `${server.base}/model.gguf`, path },
        { expectedSha256: wrong, vocabSourceDir: noVocab },
      ),
      (error: Error) =>
        error instanceof ModelError && error.message.includes(`sha256 mismatch: expected ${wrong}, got ${digest}`),
    );
    await assert.rejects(
      ensureModel({ kind: 'download', url: `${server.base}/page.gguf`, path }, { vocabSourceDir: noVocab }),
      /page\.gguf is not a GGUF model/,
    );
    await assert.rejects(
      ensureModel({ kind: 'download', url: `${server.base}/missing.gguf`, path }, { vocabSourceDir: noVocab }),
      /HTTP 404/,
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('hostile downloads fail fast and leave nothing behind', () => {
  test('refuse a 200 HTML login page by its content type, without reading its body', { timeout: 10_000 }, async (t) => {
    const { dir, path } = await cacheDir(t);
    const page = Buffer.from('<!DOCTYPE html><html><body><form action="/login">secret-ish</form></body></html>\n');
    const server = await lazyServer('text/html; charset=utf-8', 200 * MB, page);
    t.after(() => server.close());
    const url = `${server.base}/org/repo/resolve/main/m.gguf`;
    const { code, message, ms } = await failure(url, path);
    assert.equal(code, 'PROV_MODEL_NOT_GGUF');
    assert.equal(message, `${url} is not a GGUF model: it is an HTML page (content-type text/html)`);
    assert.ok(ms < 2000, `refused in ${Math.round(ms)} ms`);
    assert.equal(await server.whole, false, 'the connection was closed before the body ended');
    assert.ok(server.sent() < 16 * MB, `the server sent ${server.sent()} bytes`);
    assert.deepEqual(await readdir(dir), []);
  });

  test('refuse a 200 body of non-GGUF bytes on its first chunk', { timeout: 10_000 }, async (t) => {
    const { dir, path } = await cacheDir(t);
    const server = await lazyServer('application/octet-stream', 50 * MB, Buffer.alloc(64 * 1024, 'PK\x03\x04'));
    t.after(() => server.close());
    const url = `${server.base}/archive.gguf`;
    const { code, message, ms } = await failure(url, path);
    assert.equal(code, 'PROV_MODEL_NOT_GGUF');
    assert.equal(
      message,
      `${url} is not a GGUF model: it starts with the bytes 50 4b 03 04, not GGUF (content-type application/octet-stream)`,
    );
    assert.ok(ms < 2000, `refused in ${Math.round(ms)} ms`);
    assert.equal(await server.whole, false, 'the connection was closed before the body ended');
    assert.ok(server.sent() < 16 * MB, `the server sent ${server.sent()} bytes`);
    assert.deepEqual(await readdir(dir), []);
  });

  test('say the connection was refused when nothing listens on the port', { timeout: 10_000 }, async (t) => {
    const { dir, path } = await cacheDir(t);
    const gone = await tcpServer(null);
    await gone.close();
    const url = `http://127.0.0.1:${gone.port}/m.gguf`;
    const { code, message, ms } = await failure(url, path);
    assert.equal(code, 'PROV_MODEL_FETCH_FAILED');
    assert.equal(message, `download of ${url} failed: connection refused (ECONNREFUSED)`);
    assert.ok(ms < 2000, `failed in ${Math.round(ms)} ms`);
    assert.deepEqual(await readdir(dir), []);
  });

  test('say the host was not found when its name does not resolve', { timeout: 10_000 }, async (t) => {
    const { dir, path } = await cacheDir(t);
    const url = 'https://models.invalid/org/repo/resolve/main/m.gguf';
    const { code, message, ms } = await failure(url, path, 5000);
    assert.equal(code, 'PROV_MODEL_FETCH_FAILED');
    assert.match(
      message,
      /^download of https:\/\/models\.invalid\/org\/repo\/resolve\/main\/m\.gguf failed: host not found/,
    );
    assert.ok(ms < 5500, `failed in ${Math.round(ms)} ms`);
    assert.deepEqual(await readdir(dir), []);
  });

  test('name a TLS failure when the server does not speak TLS', { timeout: 10_000 }, async (t) => {
    const { dir, path } = await cacheDir(t);
    const plain = await tcpServer('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    t.after(() => plain.close());
    const url = `https://127.0.0.1:${plain.port}/m.gguf`;
    const { code, message, ms } = await failure(url, path);
    assert.equal(code, 'PROV_MODEL_FETCH_FAILED');
    assert.match(message, new RegExp(`^download of ${url.replace(/[.]/g, '\\.')} failed: TLS failed \\(ERR_SSL_`));
    assert.ok(ms < 2000, `failed in ${Math.round(ms)} ms`);
    assert.deepEqual(await readdir(dir), []);
  });

  test(
    'give up after the headers timeout when the server accepts and never answers',
    { timeout: 10_000 },
    async (t) => {
      const { dir, path } = await cacheDir(t);
      const silent = await tcpServer(null);
      t.after(() => silent.close());
      const url = `http://127.0.0.1:${silent.port}/m.gguf`;
      const { code, message, ms } = await failure(url, path, 300);
      assert.equal(code, 'PROV_MODEL_FETCH_FAILED');
      assert.equal(message, `download of ${url} failed: no response within 300 ms`);
      assert.ok(ms >= 290 && ms < 2000, `failed in ${Math.round(ms)} ms`);
      assert.deepEqual(await readdir(dir), []);
    },
  );
});

describe('model files', () => {
  test('check a local file is GGUF and matches its sha256', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-file-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'm.gguf');
    await writeFile(path, model);
    assert.deepEqual(await ensureModel({ kind: 'file', path }, { expectedSha256: digest, vocabSourceDir: noVocab }), {
      path,
      sha256: digest,
    });
    await assert.rejects(
      ensureModel({ kind: 'file', path }, { expectedSha256: '0'.repeat(64), vocabSourceDir: noVocab }),
      /sha256 mismatch/,
    );
    await writeFile(join(dir, 'x.gguf'), 'hello');
    await assert.rejects(
      ensureModel({ kind: 'file', path: join(dir, 'x.gguf') }, { vocabSourceDir: noVocab }),
      /is not a GGUF model/,
    );
    await assert.rejects(
      ensureModel({ kind: 'file', path: join(dir, 'none.gguf') }, { vocabSourceDir: noVocab }),
      /does not exist/,
    );
  });

  test('write the demo model once from the source vocabulary and reuse it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-demo-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'src', 'models', 'templates'), { recursive: true });
    await writeFile(join(dir, 'src', 'models', DEMO_VOCABULARY), tinyVocabGguf());
    await writeFile(join(dir, 'src', 'models', 'templates', DEMO_CHAT_TEMPLATE), '{{ messages }}');
    let asked = 0;
    const vocabSourceDir = (): Promise<string> => {
      asked += 1;
      return Promise.resolve(join(dir, 'src'));
    };
    const path = join(dir, 'cache', 'demo.gguf');
    const first = await ensureModel({ kind: 'demo', path, seed: 42 }, { vocabSourceDir });
    const second = await ensureModel({ kind: 'demo', path, seed: 42 }, { vocabSourceDir });
    assert.equal(asked, 1);
    assert.deepEqual(first, second);
    assert.deepEqual((await readdir(join(dir, 'cache'))).sort(), ['demo.gguf', 'demo.gguf.sha256']);
  });
});
