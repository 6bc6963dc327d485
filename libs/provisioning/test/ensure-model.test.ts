import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
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
