/**
 * The README's demo-kinds.yaml, as a user runs it: `llorch home --config demo-kinds.yaml` serves chat, embeddings
 * and rerank from demo pools, offline (ORCH-4042).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { testCacheDir, testEngine } from '../src/engine-fixture.ts';
import { startHomeWithConfig } from '../src/home-world.ts';
import { jsonRequest } from '../src/http-json.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('llorch home with pools of every kind', { timeout: 10 * 60_000 }, () => {
  test('the README’s demo-kinds.yaml serves chat, embeddings and rerank offline', async (t) => {
    await testEngine();
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const yaml = /```yaml\n# demo-kinds\.yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(yaml, 'the README shows demo-kinds.yaml');
    // The file as shown, with the test's cache (where the engine is already built) named.
    const { url } = await startHomeWithConfig(`cache_dir: ${testCacheDir()}\n${yaml}`, (cleanup) => t.after(cleanup));
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
