import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HANDOFF_SCHEMA_VERSION, parseModelRef, type Handoff, type PoolKind } from '@llama-orch/contracts';
import { DEFAULT_BACKOFF, ensureModel, modelLocation, ReplicaSupervisor } from '@llama-orch/provisioning';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';

const ANSWER_MS = 60_000;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Write the demo model of `kind` into a fresh cache, start llama-server with that kind's flags, ask it once. */
async function serveDemo<T>(
  kind: PoolKind,
  ask: (url: string) => Promise<T>,
): Promise<{ answer: T; handoff: Handoff }> {
  const fixture = await testEngine();
  const dir = await mkdtemp(join(tmpdir(), `llorch-demo-${kind}-`));
  const ref = parseModelRef('demo');
  assert.ok(ref.ok);
  const location = modelLocation(ref.value, dir, fixture.plan.source.identity, 'https://huggingface.co', kind);
  assert.match(location.path, new RegExp(`/demo-${kind}-v\\d+-`), 'a file name of its own');
  const model = await ensureModel(location, { vocabSourceDir: () => Promise.resolve(fixture.sourceDir) });
  const replica = new ReplicaSupervisor({
    poolId: kind,
    replicaId: 'r0',
    launch: { binary: fixture.engine.path, modelPath: model.path, ctx: 1024, slots: 2, device: 'cpu', gpus: [], kind },
    handoffDir: join(dir, 'engines'),
    logFile: join(dir, 'engine.log'),
    handoff: {
      schema_version: HANDOFF_SCHEMA_VERSION,
      pool_id: kind,
      replica_id: 'r0',
      engine: 'llamacpp',
      engine_version: fixture.engine.version,
      provisioning_mode: 'npm',
      model: { ref: 'demo', path: model.path, sha256: model.sha256 },
      kind,
      ctx: 1024,
      slots_total: 2,
      device: 'cpu',
      gpus: [],
    },
    backoff: DEFAULT_BACKOFF,
    healthTimeoutMs: ANSWER_MS,
    stopGraceMs: 5_000,
    baseEnv: process.env,
    logger: quiet,
  });
  try {
    await replica.start();
    const handoff = JSON.parse(await readFile(join(dir, 'engines', `${kind}-r0.json`), 'utf8')) as Handoff;
    return { answer: await ask(handoff.url), handoff };
  } finally {
    await replica.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('the demo model of each pool kind, served by the real llama-server', { timeout: 10 * 60_000 }, () => {
  test('the demo embedding model with --embeddings answers OpenAI embeddings pooled by the model’s mean', async () => {
    const { answer, handoff } = await serveDemo('embedding', (url) =>
      jsonRequest<{ data: { embedding: number[] }[]; usage: { prompt_tokens: number } }>(`${url}/v1/embeddings`, {
        method: 'POST',
        body: { input: ['one text', 'another text'] },
        timeoutMs: ANSWER_MS,
      }),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.data.length, 2);
    assert.equal(answer.body.data[0]?.embedding.length, 64);
    assert.equal(handoff.kind, 'embedding');
    assert.ok(handoff.flags.includes('--embeddings'));
  });

  test('the demo rerank model (qwen3 with a classification head) with --reranking scores documents', async () => {
    const { answer, handoff } = await serveDemo('rerank', (url) =>
      jsonRequest<{ results: { index: number; relevance_score: number }[] }>(`${url}/v1/rerank`, {
        method: 'POST',
        body: { query: 'a question', documents: ['first', 'second document', 'third one here'] },
        timeoutMs: ANSWER_MS,
      }),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.results.map((r) => r.index).sort(), [0, 1, 2]);
    for (const { relevance_score: score } of answer.body.results) assert.ok(score > 0 && score < 1, `${score}`);
    assert.ok(new Set(answer.body.results.map((r) => r.relevance_score)).size > 1, 'documents score differently');
    assert.equal(handoff.kind, 'rerank');
    assert.ok(handoff.flags.includes('--reranking'));
  });
});
