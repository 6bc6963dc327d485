/**
 * determinism: strict (ORCH-4037): the same request and seed give a byte-identical token stream — run alone, run
 * beside other work in the same engine's batch, and on another pool of the same set (same engine build, same model
 * file) — and the request log names what reproduces it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AdmissionResponse, ErrorEnvelope, PoolList } from '@llama-orch/contracts';
import { startCluster, type Cluster } from '../src/cluster.ts';
import { logged } from '../src/daemon-logs.ts';
import { jsonRequest } from '../src/http-json.ts';
import { followEvents, summarize } from '../src/sse.ts';

const SEEDS = 64;

/** One native task to its end (30 s budget); the text of its tokens, in order. */
async function stream(url: string, body: Record<string, unknown>): Promise<string> {
  const admitted = await jsonRequest<AdmissionResponse & ErrorEnvelope>(`${url}/v2/tasks`, { method: 'POST', body });
  assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
  const { events } = await followEvents(`${url}${admitted.body.streams.sse}`, { timeoutMs: 30_000 });
  assert.equal(events.at(-1)?.event, 'end', summarize(events));
  return events
    .filter((e) => e.event === 'token')
    .map((e) => String(e.data['t']))
    .join('');
}

/**
 * The demo model puts nearly all weight on a few tokens; sampled hot with no top-k, top-p or min-p cut, 64 seeds give
 * about 44 different streams of 48 tokens, so a seed that was ignored would show.
 */
const SAMPLED = { max_tokens: 48, ignore_eos: true, temperature: 2, top_k: 0, top_p: 1, min_p: 0 };
const strict = (seed: number, pool: string) => ({
  model_ref: 'demo',
  prompt: 'Once upon a time',
  ...SAMPLED,
  seed,
  determinism: 'strict',
  sampler_profile_version: 'v1',
  placement: { mode: 'pin', pin_pool_id: pool, allow_fallback: false },
});
const noise = (seed: number, pool: string) => ({
  model_ref: 'demo',
  prompt: 'A different and somewhat longer prompt that shares the batch',
  ...SAMPLED,
  seed: seed + 100_000,
  placement: { mode: 'pin', pin_pool_id: pool, allow_fallback: false },
});

describe('determinism: strict', { timeout: 10 * 60_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster([[{ id: 'a', slots: 2 }], [{ id: 'b', slots: 2 }]]);
  });
  after(() => cluster.cleanup());

  test('64 seeds give byte-identical streams alone and beside other work, on two pools of one build', async () => {
    const pools = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
    assert.deepEqual(
      pools.map((p) => [p.pool_id, p.deterministic]),
      [
        ['a', true],
        ['b', true],
      ],
    );
    assert.equal(new Set(pools.map((p) => `${p.engine_version} ${p.model_digest}`)).size, 1, 'one build, one model');
    const differ: string[] = [];
    const texts = new Set<string>();
    for (let seed = 1; seed <= SEEDS; seed += 1) {
      const alone = await stream(cluster.url, strict(seed, 'a'));
      const [beside] = await Promise.all([
        stream(cluster.url, strict(seed, 'b')),
        stream(cluster.url, noise(seed, 'b')),
      ]);
      texts.add(alone);
      if (alone !== beside) differ.push(`seed ${seed}: ${JSON.stringify(alone)} vs ${JSON.stringify(beside)}`);
    }
    assert.deepEqual(differ, []);
    // The seed matters: were it ignored, every stream would be the same.
    assert.ok(texts.size > SEEDS / 2, `only ${texts.size} different streams for ${SEEDS} seeds`);
  });

  test('the request log names the seed, sampler profile, engine build and model digest of a strict task', async () => {
    await stream(cluster.url, { ...strict(7, 'a'), task_id: 'repro-7' });
    const [pool] = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
    const [line] = await logged(
      cluster.orchestrator.proc.output,
      'the request log line of repro-7',
      (l) => l['msg'] === 'task finished' && l['task_id'] === 'repro-7',
    );
    assert.ok(line);
    assert.deepEqual(
      [
        line['determinism'],
        line['seed'],
        line['sampler_profile_version'],
        line['engine_version'],
        line['model_digest'],
      ],
      ['strict', 7, 'v1', pool?.engine_version, pool?.model_digest],
    );
    assert.match(String(line['model_digest']), /^[0-9a-f]{64}$/);
  });
});
