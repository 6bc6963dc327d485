import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ErrorEnvelope, PoolStatus, ReloadResponse } from '@llama-orch/contracts';
import { demoEngines } from '../src/demo-node.ts';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { isAlive, killPid, waitFor } from '../src/processes.ts';
import { handoffsIn, readHandoff, tempNode } from '../src/provisioner-cli.ts';

const status = async (url: string, pool: string): Promise<PoolStatus> =>
  (await jsonRequest<PoolStatus>(`${url}/v2/pools/${pool}/status`)).body;
const generate = (url: string, pool: string) =>
  jsonRequest<{ content: string }>(`${url}/v2/pools/${pool}/dispatch`, {
    method: 'POST',
    body: { endpoint: '/completion', body: { prompt: 'Hello', n_predict: 4 } },
  });

describe('pool-managerd running its engines in-process (HOME)', { timeout: 45 * 60_000 }, () => {
  test('serves its configured pool, reloads to a new model, rolls back a failed reload, and stops its engines', async (t) => {
    const fixture = await testEngine();
    const node = await tempNode(
      (dir) => `node_id: home
runtime_dir: ${dir}/run
cache_dir: ${fixture.cacheDir}
engine: { device: cpu }
pools:
  - { id: chat, model: demo, ctx: 512, slots: 2 }
`,
    );
    const pids = new Set<number>();
    t.after(async () => {
      for (const pid of pids) killPid(pid);
      await node.cleanup();
    });
    const pm = await startPoolManagerd({ LLORCH_CONFIG: node.configFile });
    t.after(pm.stop);
    const ready = await waitFor(
      'the configured pool',
      async () => {
        const s = await status(pm.url, 'chat');
        return s.ready ? s : undefined;
      },
      60_000,
    );
    assert.equal(ready.model, 'demo');
    assert.equal(ready.node_id, 'home');
    const first = await readHandoff(join(node.handoffDir, 'chat-r0.json'));
    assert.ok(first);
    pids.add(first.pid);
    assert.equal((await generate(pm.url, 'chat')).status, 200);

    const newModel = `file:${fixture.demoModel}`;
    const reloaded = await jsonRequest<ReloadResponse>(`${pm.url}/v2/pools/chat/reload`, {
      method: 'POST',
      body: { model_ref: newModel },
    });
    assert.equal(reloaded.status, 200);
    assert.deepEqual(reloaded.body, { pool_id: 'chat', ok: true, rolled_back: false, model: newModel });
    const after = await status(pm.url, 'chat');
    assert.equal(after.ready, true);
    assert.equal(after.model, newModel);
    assert.deepEqual(await handoffsIn(node.handoffDir), ['chat-g2-r0.json'], 'the old generation is gone');
    assert.equal(isAlive(first.pid), false, 'the old engine was stopped');
    const second = await readHandoff(join(node.handoffDir, 'chat-g2-r0.json'));
    assert.ok(second);
    pids.add(second.pid);
    assert.equal((await generate(pm.url, 'chat')).status, 200);

    const failed = await jsonRequest<ReloadResponse>(`${pm.url}/v2/pools/chat/reload`, {
      method: 'POST',
      body: { model_ref: `file:${node.dir}/missing.gguf` },
    });
    assert.equal(failed.status, 200);
    assert.equal(failed.body.ok, false);
    assert.equal(failed.body.rolled_back, true);
    assert.equal(failed.body.model, newModel);
    assert.match(failed.body.message ?? '', /missing\.gguf does not exist/);
    const still = await status(pm.url, 'chat');
    assert.equal(still.ready, true);
    assert.equal(still.model, newModel);
    assert.equal(isAlive(second.pid), true, 'the serving engine kept running');
    assert.equal((await generate(pm.url, 'chat')).status, 200);

    const notGguf = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/chat/reload`, {
      method: 'POST',
      body: { model_ref: 'ftp://x' },
    });
    assert.equal(notGguf.status, 400);
    assert.match(notGguf.body.message, /^model_ref: /);

    await pm.stop();
    assert.equal(await pm.proc.exited, 0);
    assert.equal(isAlive(second.pid), false, 'no engine outlives pool-managerd');
    assert.deepEqual(await handoffsIn(node.handoffDir), []);
    assert.match(await readFile(node.configFile, 'utf8'), /chat/);
  });

  test('a node that only watches answers reload with a conflict that says why', async (t) => {
    const engines = await demoEngines([{ id: 'watched', slots: 1 }]);
    t.after(engines.cleanup);
    const pm = await startPoolManagerd({ POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir });
    t.after(pm.stop);
    await waitFor('ready', async () => ((await status(pm.url, 'watched')).ready ? true : undefined), 10_000);
    const conflict = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/watched/reload`, {
      method: 'POST',
      body: { model_ref: 'demo' },
    });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.code, 'CONFLICT');
    assert.match(conflict.body.message, /reload needs pool-managerd to run the engines \(LLORCH_CONFIG\)/);
    assert.equal((await status(pm.url, 'watched')).ready, true);
    const unknown = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/none/reload`, {
      method: 'POST',
      body: { model_ref: 'demo' },
    });
    assert.equal(unknown.status, 404);
  });
});
