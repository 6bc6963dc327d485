/**
 * Zero-downtime reload (issue 18) on real engines: 20 clients keep a task streaming each while the pool is reloaded
 * to another model file; every task, admitted before, during or after, ends with `end` and all its tokens. With
 * room for both models the new engines start beside the old ones; under a memory budget that holds one, the old
 * ones finish their work and stop first while new work waits in the queue.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { PoolStatus } from '@llama-orch/contracts';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { sizedModels } from '../src/sized-models.ts';
import { followEvents, summarize } from '../src/sse.ts';

const CTX = 512;
const CLIENTS = 20;
const TOKENS = 48;

interface Outcome {
  readonly ok: boolean;
  readonly what: string;
}

async function reloadUnderLoad(
  t: { after: (fn: () => Promise<void>) => void; diagnostic: (message: string) => void },
  budget: (estimates: { small: number; middle: number }) => number | null,
): Promise<{ outcomes: Outcome[]; sideBySide: boolean; onNew: number; states: Set<string> }> {
  const fixture = await testEngine();
  const models = await sizedModels(CTX);
  // One replica of 4 slots: its estimate is the model's for ctx × 4.
  const limit = budget({ small: models.small.estimate, middle: models.middle.estimate });
  const dir = await mkdtemp(join(tmpdir(), 'llorch-reload-'));
  const config = join(dir, 'node.yaml');
  await writeFile(
    config,
    [
      'node_id: reload-node',
      `runtime_dir: ${join(dir, 'run')}`,
      `cache_dir: ${fixture.cacheDir}`,
      'engine: { device: cpu }',
      ...(limit === null ? [] : [`memory_budget_bytes: ${limit}`]),
      'pools:',
      `  - { id: chat, model: "file:${models.small.path}", ctx: ${CTX}, slots: 4 }`,
      '',
    ].join('\n'),
  );
  const node = await startPoolManagerd({ LLORCH_CONFIG: config }, 120_000);
  const orchestrator = await startOrchestratord({ ORCHD_POOL_MANAGERS: node.url });
  t.after(async () => {
    await orchestrator.stop();
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await waitFor(
    'the pool ready',
    async () => {
      const pools = await jsonRequest<{ pools: PoolStatus[] }>(`${orchestrator.url}/v2/pools`);
      return pools.body.pools.some((p) => p.ready) ? true : undefined;
    },
    60_000,
  );

  let running = true;
  let n = 0;
  const outcomes: Outcome[] = [];
  const client = async (): Promise<void> => {
    while (running) {
      const id = `reload-${(n += 1)}`;
      const admitted = await jsonRequest(`${orchestrator.url}/v2/tasks`, {
        method: 'POST',
        body: { task_id: id, model_ref: 'chat', prompt: 'Hello', max_tokens: TOKENS, ignore_eos: true },
      });
      if (admitted.status !== 202) {
        outcomes.push({ ok: false, what: `${id}: ${admitted.status} ${JSON.stringify(admitted.body)}` });
        continue;
      }
      const followed = await followEvents(`${orchestrator.url}/v2/tasks/${id}/events`, { timeoutMs: 120_000 });
      const last = followed.events.at(-1);
      const tokens = followed.events.filter((e) => e.event === 'token').length;
      const terminal = followed.events.filter((e) => e.event === 'end' || e.event === 'error').length;
      outcomes.push({
        ok: last?.event === 'end' && last.data['tokens_out'] === TOKENS && tokens === TOKENS && terminal === 1,
        what: `${id}: ${summarize(followed.events)} ${JSON.stringify(last)}`,
      });
    }
  };
  const clients = Array.from({ length: CLIENTS }, () => client());
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const before = outcomes.length;
  // The pool's states while the reload runs, as placement sees them.
  const states = new Set<string>();
  let reloading = true;
  const sampler = (async () => {
    while (reloading) {
      const pools = await jsonRequest<{ pools: PoolStatus[] }>(`${node.url}/v2/pools`);
      for (const p of pools.body.pools) states.add(p.state);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const reload = await jsonRequest<{ ok: boolean; rolled_back: boolean; model: string }>(
    `${orchestrator.url}/v2/pools/chat/reload`,
    { method: 'POST', body: { model_ref: `file:${models.middle.path}` }, timeoutMs: 120_000 },
  );
  reloading = false;
  await sampler;
  assert.equal(reload.status, 200, JSON.stringify(reload.body));
  assert.deepEqual([reload.body.ok, reload.body.rolled_back], [true, false], JSON.stringify(reload.body));
  const during = outcomes.length - before;
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  running = false;
  await Promise.all(clients);
  const status = await jsonRequest<PoolStatus>(`${node.url}/v2/pools/chat/status`);
  assert.equal(status.body.model, `file:${models.middle.path}`, 'the pool serves the new model');
  assert.equal(status.body.ready, true);
  const lines = node.proc.output().split('\n');
  const line = lines.find((l) => l.includes('"msg":"reloaded"'));
  // The engines of the reload are the pool's second generation (replicas g2-r…).
  const onNew = lines.filter(
    (l) => l.includes('"replica_id":"g2-r0"') && l.includes('"msg":"dispatch finished"'),
  ).length;
  assert.ok(line, 'pool-managerd logged the reload');
  t.diagnostic(`${outcomes.length} tasks, ${before} before the reload, ${during} while it ran; ${line}`);
  return { outcomes, sideBySide: line.includes('"side_by_side":true'), onNew, states };
}

describe('a reload under load', { timeout: 5 * 60_000 }, () => {
  test('with room for both models: the new engines start beside the old ones; no task fails or is cut', async (t) => {
    const { outcomes, sideBySide, onNew, states } = await reloadUnderLoad(t, () => null);
    assert.ok(sideBySide, 'side by side');
    assert.deepEqual([...states], ['ready'], 'the pool never stopped taking work');
    const failed = outcomes.filter((o) => !o.ok);
    assert.deepEqual(failed, [], `${failed.length} of ${outcomes.length} failed`);
    assert.ok(outcomes.length > 40, `${outcomes.length} tasks`);
    assert.ok(onNew > 10, `${onNew} dispatches ran on the new engines`);
  });

  test('with room for one model: the old engines drain first, new work waits; no task fails or is cut', async (t) => {
    const { outcomes, sideBySide, onNew, states } = await reloadUnderLoad(t, (e) =>
      Math.floor(Math.max(e.small, e.middle) * 1.2),
    );
    assert.ok(states.has('draining'), `drained first: ${[...states].join(', ')}`);
    assert.ok(onNew > 10, `${onNew} dispatches ran on the new engines`);
    assert.equal(sideBySide, false, 'drained first');
    const failed = outcomes.filter((o) => !o.ok);
    assert.deepEqual(failed, [], `${failed.length} of ${outcomes.length} failed`);
    assert.ok(outcomes.length > 40, `${outcomes.length} tasks`);
  });
});
