/**
 * `llorch pull` and `llorch models` with real files over real HTTP: the demo GGUF served from 127.0.0.1 as a
 * Hugging Face endpoint (`HF_ENDPOINT`) and over HTTPS with a certificate from our own CA (`NODE_EXTRA_CA_CERTS`).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { createCa, issueCertificate } from '@llama-orch/tls';
import { startCluster } from '../src/cluster.ts';
import { testEngine } from '../src/engine-fixture.ts';
import { startProcess } from '../src/processes.ts';
import { within } from '../src/sse.ts';

const LLORCH = fileURLToPath(new URL('../../bin/llorch/bin/llorch.js', import.meta.url));
/** A pull of 5 MB from loopback, or a listing: each run of llorch gets this long. */
const RUN_BUDGET_MS = 60_000;

interface Served {
  readonly url: string;
  /** `GET <path> [range]` of every request. */
  readonly seen: string[];
  /** Cut the next answer of the model after this many bytes (a dropped connection). */
  cutAfter: number | null;
}

/** Serve the demo GGUF at every path ending in `.gguf` (with Range), an HTML page elsewhere. */
function serveModel(model: Buffer) {
  return (served: Served) => (req: IncomingMessage, res: ServerResponse) => {
    const range = req.headers.range;
    served.seen.push(`${req.method} ${req.url}${range ? ` ${range}` : ''}`);
    if (!(req.url ?? '').endsWith('.gguf')) {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>sign in to download</html>');
      return;
    }
    const from = range === undefined ? 0 : Number(/^bytes=(\d+)-$/.exec(range)?.[1] ?? 0);
    const body = model.subarray(from);
    res.writeHead(range === undefined ? 200 : 206, {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      ...(range === undefined ? {} : { 'content-range': `bytes ${from}-${model.length - 1}/${model.length}` }),
    });
    const cut = served.cutAfter;
    if (cut === null) {
      res.end(body);
      return;
    }
    served.cutAfter = null;
    res.write(body.subarray(0, cut), () => res.destroy());
  };
}

async function listen(
  t: { after: (fn: () => Promise<unknown>) => void },
  make: (handler: (req: IncomingMessage, res: ServerResponse) => void) => ReturnType<typeof createHttpServer>,
  handler: (served: Served) => (req: IncomingMessage, res: ServerResponse) => void,
  scheme: 'http' | 'https',
): Promise<Served> {
  const served: Served = { url: '', seen: [], cutAfter: null };
  const server = make(handler(served));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  Object.assign(served, { url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}` });
  return served;
}

async function llorch(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = startProcess(process.execPath, [LLORCH, ...args], env);
  let stdout = '';
  let stderr = '';
  proc.child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await within(
    `llorch ${args.join(' ')}`,
    RUN_BUDGET_MS,
    (signal) => {
      signal.addEventListener('abort', () => proc.child.kill('SIGKILL'));
      return proc.exited;
    },
    proc.output,
  );
  return { code, stdout, stderr };
}

describe('llorch pull and llorch models', { timeout: 30 * 60_000 }, () => {
  test('pulls hf: and https:// models into the cache with progress, checked and resumable, and lists them', async (t) => {
    const fixture = await testEngine();
    const model = await readFile(fixture.demoModel);
    const digest = createHash('sha256').update(model).digest('hex');
    // The size as llorch prints it, escaped for the patterns below.
    const size = `${(model.length / 1024 / 1024).toFixed(1)} MiB`.replace('.', '\\.');
    const dir = await mkdtemp(join(tmpdir(), 'llorch-pull-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const cache = join(dir, 'cache');
    const hf = await listen(t, createHttpServer, serveModel(model), 'http');
    const ca = await createCa('llorch pull test CA');
    const pair = await issueCertificate(ca, { commonName: '127.0.0.1', usage: 'server' });
    await writeFile(join(dir, 'ca.crt'), ca.cert);
    const https = await listen(
      t,
      (h) => createHttpsServer({ cert: pair.cert, key: pair.key }, h),
      serveModel(model),
      'https',
    );
    const env = {
      ...process.env,
      HF_ENDPOINT: hf.url,
      ENGINE_PROVISIONER_CACHE_DIR: cache,
      NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt'),
      LLORCH_URL: 'http://127.0.0.1:9',
      POOL_MANAGERD_RUNTIME_DIR: join(dir, 'state'),
    };
    const ref = 'hf:test-org/Demo-GGUF/demo.gguf';
    const file = join(cache, 'models', 'hf', 'test-org', 'Demo-GGUF', 'demo.gguf');

    // A download cut short keeps what arrived; the next pull asks only for the rest.
    hf.cutAfter = 1_000_000;
    const cut = await llorch(['pull', ref], env);
    assert.equal(cut.code, 1, cut.stdout + cut.stderr);
    assert.match(cut.stderr, /was interrupted after \d+ bytes .*it resumes/);
    assert.match(cut.stderr, /Run it again to resume/);
    const pulled = await llorch(['pull', ref], env);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(hf.seen[0], 'GET /test-org/Demo-GGUF/resolve/main/demo.gguf');
    const resumedAt = Number(
      /^GET \/test-org\/Demo-GGUF\/resolve\/main\/demo\.gguf bytes=(\d+)-$/.exec(hf.seen[1] ?? '')?.[1],
    );
    assert.ok(
      resumedAt > 0 && resumedAt <= 1_000_000,
      `the second pull resumed where the first was cut: ${hf.seen[1]}`,
    );
    assert.ok((await readFile(file)).equals(model), 'the file is the model, byte for byte');
    assert.equal(await readFile(`${file}.sha256`, 'utf8'), `${digest} ${model.length}\n`);
    assert.match(
      pulled.stdout,
      new RegExp(`^pulling ${ref}\\n  from ${hf.url}/test-org/Demo-GGUF/resolve/main/demo.gguf\\n`),
    );
    assert.match(pulled.stdout, new RegExp(`pulled ${file.replace(/[.]/g, '\\.')} \\(${size}, sha256 ${digest}\\)\\n`));
    assert.match(pulled.stdout, /serve it: npx llorch home --model hf:test-org\/Demo-GGUF\/demo\.gguf\n$/);
    // Progress on a pipe: whole lines with the bar, the percentage, bytes, rate and ETA.
    assert.match(
      pulled.stderr,
      new RegExp(`^\\[#{24}\\] 100% {2}${size} / ${size} {2}[\\d.]+ [KMG]?i?B/s {2}ETA 0s$`, 'm'),
    );
    const again = await llorch(['pull', ref], env);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already in the cache: /);
    assert.equal(hf.seen.length, 2, 'a cached model is not fetched again');

    // https:// with a private CA, and the digest checked.
    const url = `${https.url}/files/demo.gguf`;
    const secure = await llorch(['pull', url, '--sha256', digest], env);
    assert.equal(secure.code, 0, secure.stderr);
    const urlFiles = await readdir(join(cache, 'models', 'url'));
    assert.equal(urlFiles.filter((f) => f.endsWith('-demo.gguf')).length, 1);
    const wrong = await llorch(['pull', `${https.url}/other/demo.gguf`, '--sha256', '0'.repeat(64)], env);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /sha256 mismatch: expected 0{64}, got [0-9a-f]{64}\nThe file is not the one --sha256 names/,
    );
    const page = await llorch(['pull', `${https.url}/login`], env);
    assert.equal(page.code, 1);
    assert.match(page.stderr, /is not a GGUF model/);
    assert.deepEqual((await readdir(join(cache, 'models', 'url'))).sort(), urlFiles.sort(), 'nothing kept of either');
    assert.equal((await llorch(['pull', 'ollama:llama3'], env)).code, 2);

    // models: the configured pool with its file and size, and the cache with what uses each model.
    const config = join(dir, 'pools.yaml');
    await writeFile(
      config,
      `pools:\n  - { id: chat, model: "${ref}", ctx: 2048, slots: 1 }\n  - { id: later, model: "hf:x/y/z.gguf", ctx: 2048, slots: 1 }\n`,
    );
    const listed = await llorch(['models', '--config', config], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^orchestratord at http:\/\/127\.0\.0\.1:9 does not answer/);
    assert.match(listed.stdout, /^POOL\s+MODEL\s+STATE\s+DEVICE\s+SIZE\s+FILE$/m);
    assert.match(
      listed.stdout,
      new RegExp(`^chat\\s+hf:test-org/Demo-GGUF/demo\\.gguf\\s+not running\\s+-\\s+${size}\\s+\\S+demo\\.gguf$`, 'm'),
    );
    assert.match(listed.stdout, /^later\s+hf:x\/y\/z\.gguf\s+not running\s+-\s+not downloaded\s+/m);
    assert.match(listed.stdout, new RegExp(`^ {2}hf:test-org/Demo-GGUF/demo\\.gguf\\s+${size}\\s+chat\\s+`, 'm'));
    assert.match(listed.stdout, new RegExp(`^ {2}\\(https download\\)\\s+${size}\\s+-\\s+\\S+-demo\\.gguf$`, 'm'));
    const json = JSON.parse((await llorch(['models', '--config', config, '--json'], env)).stdout) as {
      orchestratord: boolean;
      pools: { pool_id: string; size_bytes: number | null; file: string | null }[];
      cache: { models: { ref: string | null; size_bytes: number; pools: string[] }[] };
    };
    assert.equal(json.orchestratord, false);
    assert.deepEqual(
      json.pools.map((p) => [p.pool_id, p.size_bytes, p.file]),
      [
        ['chat', model.length, file],
        ['later', null, join(cache, 'models', 'hf', 'x', 'y', 'z.gguf')],
      ],
    );
    assert.deepEqual(
      json.cache.models.map((m) => [m.ref, m.size_bytes, m.pools]),
      [
        [ref, model.length, ['chat']],
        [null, model.length, []],
      ],
    );
  });

  test('lists the models a running tree serves, with the files its handoffs name', async (t) => {
    const fixture = await testEngine();
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]]);
    t.after(cluster.cleanup);
    const node = cluster.nodes[0];
    assert.ok(node);
    const listening = node.proc
      .output()
      .split('\n')
      .find((l) => l.includes('"pool-managerd listening"'));
    const handoffDir = (JSON.parse(listening ?? '{}') as { handoff_dir?: string }).handoff_dir;
    assert.ok(handoffDir, 'pool-managerd names its handoff directory');
    const env = {
      ...process.env,
      LLORCH_URL: cluster.url,
      POOL_MANAGERD_RUNTIME_DIR: dirname(handoffDir),
      ENGINE_PROVISIONER_CACHE_DIR: fixture.cacheDir,
    };
    const listed = await llorch(['models'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const size = (await stat(fixture.demoModel)).size;
    const human = `${(size / 1024 / 1024).toFixed(1)} MiB`;
    assert.match(
      listed.stdout,
      new RegExp(`^demo\\s+demo\\s+ready\\s+cpu\\s+${human.replace('.', '\\.')}\\s+\\S+\\.gguf$`, 'm'),
    );
    assert.doesNotMatch(listed.stdout, /does not answer/);
    const json = JSON.parse((await llorch(['models', '--json'], env)).stdout) as {
      pools: { pool_id: string; state: string; file: string }[];
      cache: { models: { ref: string | null; file: string; pools: string[] }[] };
    };
    assert.deepEqual(
      json.pools.map((p) => [p.pool_id, p.state, p.file]),
      [['demo', 'ready', fixture.demoModel]],
    );
    assert.deepEqual(
      json.cache.models.filter((m) => m.file === fixture.demoModel).map((m) => [m.ref, m.pools]),
      [['demo', ['demo']]],
    );
  });
});
