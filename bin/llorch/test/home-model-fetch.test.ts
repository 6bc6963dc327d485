import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runHome, standInConfig } from './home-run.ts';

const MODEL = 'hf:acme/tiny-GGUF/tiny-q4.gguf';

/** A port nothing listens on (taken and released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An HTTP forward proxy that records the URLs asked of it and answers each with 502. */
async function recordingProxy(): Promise<{ server: Server; url: string; asked: string[] }> {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(req.url ?? '');
    res.writeHead(502, { 'content-type': 'text/plain' }).end('upstream unreachable from this proxy');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked };
}

describe('llorch home when its model cannot be fetched', { timeout: 5 * 60_000 }, () => {
  test('shows the daemon’s reason and the next steps: a file: path, HF_ENDPOINT, a proxy', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-fetch-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const run = await runHome(dir, ['--config', await standInConfig(dir, MODEL)], { HF_ENDPOINT: endpoint });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `^llorch home: pool broken failed: download of ${endpoint}/acme/tiny-GGUF/resolve/main/tiny-q4\\.gguf failed: .*ECONNREFUSED`,
        'm',
      ),
    );
    assert.match(run.stderr, /^ {2}- a GGUF file you already have: npx llorch home --model \/path\/to\/model\.gguf/m);
    assert.match(run.stderr, /^ {2}- a Hugging Face mirror: HF_ENDPOINT=/m);
    assert.match(run.stderr, /^ {2}- behind a proxy: HTTPS_PROXY=/m);
    assert.doesNotMatch(run.stdout + run.stderr, /see the log above/i);
  });

  test('downloads through the proxy that HTTP_PROXY names', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-proxy-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const proxy = await recordingProxy();
    t.after(() => new Promise<void>((resolve) => proxy.server.close(() => resolve())));
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const run = await runHome(dir, ['--config', await standInConfig(dir, MODEL)], {
      HF_ENDPOINT: endpoint,
      HTTP_PROXY: proxy.url,
      NO_PROXY: '',
    });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.deepEqual(proxy.asked, [`${endpoint}/acme/tiny-GGUF/resolve/main/tiny-q4.gguf`]);
    assert.match(run.stderr, /failed: HTTP 502 \(upstream unreachable from this proxy\)/);
  });

  test('a failure with no known advice names the daemon’s error and its log file, never “see the log above”', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-unusable-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const config = await standInConfig(dir, 'demo');
    // A llama-server that cannot even tell its version.
    await writeFile(join(dir, 'llama-server'), '#!/bin/sh\necho "segfault" >&2\nexit 139\n');
    await chmod(join(dir, 'llama-server'), 0o755);
    const run = await runHome(dir, ['--config', config]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /^llorch home: pool broken failed: /m);
    assert.match(run.stderr, new RegExp(`^The whole log of pool-managerd: ${dir}/run/logs/pool-managerd\\.log$`, 'm'));
    assert.doesNotMatch(run.stdout + run.stderr, /see the log above/i);
  });
});
