import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { request } from 'undici';
import type { DrainResponse, ErrorEnvelope, PoolStatus } from '@llama-orch/contracts';
import { demoEngines } from '../src/demo-node.ts';
import { fakeGpuHost } from '../src/fake-gpu.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { readHandoff } from '../src/provisioner-cli.ts';
import { followEvents, STREAM_BUDGET_MS, within } from '../src/sse.ts';

const status = async (url: string, pool: string): Promise<PoolStatus> =>
  (await jsonRequest<PoolStatus>(`${url}/v2/pools/${pool}/status`)).body;
const long = (n: number) => ({
  endpoint: '/completion',
  body: { prompt: 'Count with me:', n_predict: n, stream: true, ignore_eos: true },
});

/** A dispatch pool-managerd cannot place must be refused at once, not after an engine slot frees. */
const ANSWER_AT_ONCE_MS = 10_000;

/** One gauge of llama-server's Prometheus metrics (`llamacpp:<name> <value>`). */
function engineGauge(metrics: string, name: string): number {
  const value = new RegExp(`^llamacpp:${name} (\\S+)$`, 'm').exec(metrics)?.[1];
  assert.ok(value !== undefined, `the engine reports no llamacpp:${name}`);
  return Number(value);
}

async function engineBusySlots(engineUrl: string): Promise<number> {
  const slots = (await request(`${engineUrl}/slots`).then((r) => r.body.json())) as { is_processing: boolean }[];
  return slots.filter((s) => s.is_processing).length;
}

describe('pool-managerd dispatch to real engines', { timeout: 45 * 60_000 }, () => {
  test('relays the engine stream byte for byte with the correlation id echoed', async (t) => {
    const engines = await demoEngines([{ id: 'relay', slots: 2 }]);
    t.after(engines.cleanup);
    const pm = await startPoolManagerd({ POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir });
    t.after(pm.stop);
    await waitFor('ready', async () => ((await status(pm.url, 'relay')).ready ? true : undefined), 10_000);
    const relayed = await followEvents(`${pm.url}/v2/pools/relay/dispatch`, {
      method: 'POST',
      headers: { 'x-correlation-id': 'corr-123' },
      body: long(12),
    });
    assert.equal(relayed.status, 200);
    assert.equal(relayed.headers['x-correlation-id'], 'corr-123');
    assert.match(String(relayed.headers['content-type']), /text\/event-stream/);
    const frames = relayed.events.map((e) => e.data as { content: string; stop: boolean });
    assert.equal(frames.filter((f) => !f.stop).length, 12);
    assert.equal(frames.at(-1)?.stop, true);

    const chat = await jsonRequest<{ choices: { message: { content: string } }[] }>(
      `${pm.url}/v2/pools/relay/dispatch`,
      {
        method: 'POST',
        body: {
          endpoint: '/v1/chat/completions',
          body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 },
        },
      },
    );
    assert.equal(chat.status, 200);
    assert.equal(typeof chat.body.choices[0]?.message.content, 'string');

    const bad = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/relay/dispatch`, {
      method: 'POST',
      body: { endpoint: '/slots', body: {} },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'INVALID_PARAMS');
    assert.match(bad.body.message, /^endpoint: /);
    const unknown = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/nope/dispatch`, {
      method: 'POST',
      body: long(1),
    });
    assert.equal(unknown.status, 404);
    await waitFor(
      'the dispatch log line with its correlation id',
      () =>
        /"correlation_id":"corr-123".*"pool_id":"relay"|"pool_id":"relay".*"correlation_id":"corr-123"/.test(
          pm.proc.output(),
        )
          ? true
          : undefined,
      5_000,
    );
  });

  test('relays exactly slots_total of 4× as many concurrent dispatches and answers the rest busy at once, so the engine queues none', async (t) => {
    const engines = await demoEngines([{ id: 'load', slots: 2, ctx: 16_384 }]);
    t.after(engines.cleanup);
    const pm = await startPoolManagerd({ POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir });
    t.after(pm.stop);
    await waitFor('ready', async () => ((await status(pm.url, 'load')).ready ? true : undefined), 10_000);
    const handoff = await readHandoff(join(engines.handoffDir, 'load-r0.json'));
    assert.ok(handoff);
    // Endless generations hold their slots for the whole test: whatever pool-managerd relays beyond slots_total
    // would wait in the engine's own queue (llama-server -np), so only pool-managerd's refusal answers it.
    const leave = new AbortController();
    t.after(() => leave.abort());
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () => {
        try {
          const answer = await request(`${pm.url}/v2/pools/load/dispatch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(long(1_000_000)),
            headersTimeout: ANSWER_AT_ONCE_MS,
            signal: leave.signal,
          });
          if (answer.statusCode === 200) return { kind: 'relayed' as const };
          return { kind: 'refused' as const, status: answer.statusCode, body: await answer.body.text() };
        } catch (error) {
          return { kind: 'unanswered' as const, error: (error as Error).message };
        }
      }),
    );
    const relayed = answers.filter((a) => a.kind === 'relayed');
    const refused = answers.flatMap((a) => (a.kind === 'refused' ? [a] : []));
    assert.deepEqual(
      { relayed: relayed.length, refused: refused.length },
      { relayed: 2, refused: 6 },
      `slots_total relayed, every other dispatch refused within ${ANSWER_AT_ONCE_MS} ms: ${JSON.stringify(answers)}`,
    );
    for (const r of refused) {
      assert.equal(r.status, 503, r.body);
      const envelope = JSON.parse(r.body) as ErrorEnvelope;
      assert.equal(envelope.code, 'REPLICA_EXHAUSTED');
      assert.equal(envelope.retriable, true);
      assert.ok((envelope.retry_after_ms ?? 0) > 0, r.body);
    }
    const engine = await waitFor('the engine to process both relayed requests', async () => {
      const text = await request(`${handoff.url}/metrics`).then((r) => r.body.text());
      return engineGauge(text, 'requests_processing') === 2 ? text : undefined;
    });
    assert.equal(engineGauge(engine, 'requests_deferred'), 0, 'nothing waits in the engine’s own queue');
    assert.equal((await status(pm.url, 'load')).slots_free, 0);

    leave.abort();
    await waitFor(
      'every slot to be free again once the clients leave',
      async () => ((await status(pm.url, 'load')).slots_free === 2 ? true : undefined),
      10_000,
    );
  });

  test('a client that goes away frees its slot and stops the engine request', async (t) => {
    const engines = await demoEngines([{ id: 'gone', slots: 1, ctx: 16_384 }]);
    t.after(engines.cleanup);
    const pm = await startPoolManagerd({
      POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir,
      POOL_MANAGERD_HEALTH_INTERVAL_MS: '200',
    });
    t.after(pm.stop);
    await waitFor('ready', async () => ((await status(pm.url, 'gone')).ready ? true : undefined), 10_000);
    const handoff = await readHandoff(join(engines.handoffDir, 'gone-r0.json'));
    assert.ok(handoff);
    const controller = new AbortController();
    t.after(() => controller.abort());
    let streaming = (): void => undefined;
    const firstFrame = new Promise<void>((resolve) => (streaming = resolve));
    const following = followEvents(`${pm.url}/v2/pools/gone/dispatch`, {
      method: 'POST',
      body: long(100_000),
      signal: controller.signal,
      onEvent: () => streaming(),
    });
    following.catch(() => undefined); // awaited below
    await within('the first frame of the dispatch', STREAM_BUDGET_MS, () => firstFrame);
    assert.equal((await status(pm.url, 'gone')).slots_free, 0);
    controller.abort();
    await following;
    await waitFor(
      'the slot to be free again',
      async () => ((await status(pm.url, 'gone')).slots_free === 1 ? true : undefined),
      5_000,
    );
    await waitFor(
      'the engine to stop generating',
      async () => ((await engineBusySlots(handoff.url)) === 0 ? true : undefined),
      5_000,
    );
    const next = await jsonRequest(`${pm.url}/v2/pools/gone/dispatch`, {
      method: 'POST',
      body: { endpoint: '/completion', body: { prompt: 'x', n_predict: 2 } },
    });
    assert.equal(next.status, 200);
  });

  test('drain lets in-flight work run until the deadline, aborts it then, and leaves the pool offline', async (t) => {
    // A context long enough that the endless request outlives the drain deadline by far; the short one needs
    // milliseconds, so the deadline leaves it a wide margin on a loaded machine too.
    const engines = await demoEngines([{ id: 'drain', slots: 2, ctx: 262_144 }]);
    t.after(engines.cleanup);
    const pm = await startPoolManagerd({ POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir });
    t.after(pm.stop);
    await waitFor('ready', async () => ((await status(pm.url, 'drain')).ready ? true : undefined), 10_000);
    const short = jsonRequest(`${pm.url}/v2/pools/drain/dispatch`, {
      method: 'POST',
      body: { endpoint: '/completion', body: { prompt: 'x', n_predict: 8 } },
    });
    const endless = await request(`${pm.url}/v2/pools/drain/dispatch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(long(100_000)),
      headersTimeout: STREAM_BUDGET_MS,
    });
    const endlessText = endless.body.text().catch((error: Error) => `aborted: ${error.message}`);
    const cutOff = within('the endless dispatch to be cut off by the drain', STREAM_BUDGET_MS, () => endlessText);
    cutOff.catch(() => undefined); // awaited below
    const drained = await jsonRequest<DrainResponse>(`${pm.url}/v2/pools/drain/drain`, {
      method: 'POST',
      body: { deadline_ms: 3000 },
    });
    assert.equal(drained.status, 200);
    assert.equal(drained.body.state, 'offline');
    assert.equal(drained.body.aborted, 1, 'the endless request was aborted at the deadline');
    assert.ok(drained.body.duration_ms >= 3000);
    assert.equal((await short).status, 200, 'the short request finished during the drain');
    await cutOff;
    const after = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/drain/dispatch`, {
      method: 'POST',
      body: long(1),
    });
    assert.equal(after.status, 503);
    assert.equal(after.body.code, 'POOL_UNREADY');
    assert.equal((await jsonRequest(`${pm.url}/ready`)).status, 503);
    const invalid = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/drain/drain`, {
      method: 'POST',
      body: { deadline_ms: 'soon' },
    });
    assert.equal(invalid.status, 400);
    assert.match(invalid.body.message, /^deadline_ms: /);
  });

  test('maps a pool to its GPUs from a fake two-GPU nvidia-smi and reports their VRAM', async (t) => {
    const engines = await demoEngines([{ id: 'cpu', slots: 1 }]);
    t.after(engines.cleanup);
    const host = await fakeGpuHost(join(engines.runtimeDir, 'host'), { cublas: true });
    const pm = await startPoolManagerd({ POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir, PATH: host.path });
    t.after(pm.stop);
    const real = await readHandoff(join(engines.handoffDir, 'cpu-r0.json'));
    assert.ok(real);
    await writeFile(
      join(engines.handoffDir, 'gpu-r0.json'),
      JSON.stringify({ ...real, pool_id: 'gpu', device: 'cuda', gpus: [1] }),
    );
    const gpu = await waitFor('the GPU pool', async () => {
      const answer = await jsonRequest<PoolStatus>(`${pm.url}/v2/pools/gpu/status`);
      return answer.status === 200 && answer.body.ready ? answer.body : undefined;
    });
    assert.equal(gpu.device, 'cuda');
    assert.equal(gpu.vram_total_bytes, 24564 * 1024 * 1024);
    assert.equal(gpu.vram_free_bytes, 24052 * 1024 * 1024);
    const cpu = await status(pm.url, 'cpu');
    assert.equal(cpu.device, 'cpu');
    assert.equal(cpu.vram_total_bytes, null);
    const metrics = await request(`${pm.url}/metrics`).then((r) => r.body.text());
    assert.match(metrics, new RegExp(`pool_vram_total_bytes\\{pool_id="gpu"\\} ${24564 * 1024 * 1024}`));
  });
});
