/**
 * The README's demo-kinds.yaml, as a user runs it: `llorch home --config demo-kinds.yaml` serves chat, embeddings
 * and rerank from demo pools, offline (ORCH-4042).
 */
import assert from 'node:assert/strict';
import { readFile, rm, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { testCacheDir, testEngine } from '../src/engine-fixture.ts';
import { freePort } from '../src/free-port.ts';
import { homeGone } from '../src/home-world.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startProcess, stopProcess, waitFor } from '../src/processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LLORCH = join(ROOT, 'bin', 'llorch', 'bin', 'llorch.js');

describe('llorch home with pools of every kind', { timeout: 10 * 60_000 }, () => {
  test('the README’s demo-kinds.yaml serves chat, embeddings and rerank offline', async (t) => {
    await testEngine();
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const yaml = /```yaml\n# demo-kinds\.yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(yaml, 'the README shows demo-kinds.yaml');
    const state = await mkdtemp(join(tmpdir(), 'llorch-kinds-'));
    const config = join(state, 'demo-kinds.yaml');
    // The file as shown, with the test's cache (where the engine is already built) named.
    await writeFile(config, `cache_dir: ${testCacheDir()}\n${yaml}`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const home = startProcess(process.execPath, [LLORCH, 'home', '--config', config], {
      ...process.env,
      POOL_MANAGERD_RUNTIME_DIR: state,
      ORCHD_BIND_ADDR: `127.0.0.1:${port}`,
      POOL_MANAGERD_BIND_ADDR: `127.0.0.1:${await freePort()}`,
      LLORCH_URL: undefined,
      LLORCH_CONFIG: undefined,
    });
    t.after(async () => {
      await stopProcess(home);
      await homeGone(state).catch(() => undefined);
      await rm(state, { recursive: true, force: true });
    });
    await waitFor(
      'the ready line',
      () => {
        if (home.child.exitCode !== null) throw new Error(`llorch home exited:\n${home.output()}`);
        return home.output().includes('llama-orch is ready') ? true : undefined;
      },
      180_000,
    );
    const post = <T>(path: string, body: unknown) =>
      jsonRequest<T>(`${url}${path}`, { method: 'POST', body, timeoutMs: 60_000 });
    const chat = await post<{ choices: { message: { content: string } }[] }>('/v1/chat/completions', {
      model: 'demo',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 4,
    });
    assert.equal(chat.status, 200, JSON.stringify(chat.body));
    const embedded = await post<{ data: { embedding: number[] }[] }>('/v1/embeddings', {
      model: 'demo',
      input: ['first text', 'second text'],
    });
    assert.equal(embedded.status, 200, JSON.stringify(embedded.body));
    assert.equal(embedded.body.data.length, 2);
    assert.ok((embedded.body.data[0]?.embedding.length ?? 0) > 0);
    const ranked = await post<{ results: { index: number; relevance_score: number }[] }>('/v1/rerank', {
      model: 'demo',
      query: 'which?',
      documents: ['a', 'b', 'c'],
    });
    assert.equal(ranked.status, 200, JSON.stringify(ranked.body));
    assert.deepEqual(ranked.body.results.map((r) => r.index).sort(), [0, 1, 2]);
  });
});
