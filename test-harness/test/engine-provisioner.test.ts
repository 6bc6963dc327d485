import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { createParser } from 'eventsource-parser';
import { EngineProvisioner, ensureEngine } from '@llama-orch/provisioning';
import { testEngine } from '../src/engine-fixture.ts';
import { listeningAddresses } from '../src/listening.ts';
import { isAlive, killPid, stopProcess, waitFor } from '../src/processes.ts';
import { handoffsIn, readHandoff, runProvisioner, tempNode } from '../src/provisioner-cli.ts';

const BUILD_TIMEOUT = 45 * 60_000;

describe('engine-provisioner with a real llama-server', { timeout: BUILD_TIMEOUT }, () => {
  test('builds llama-server for CPU from the npm bundle once and then takes it from the cache', async () => {
    const fixture = await testEngine();
    assert.match(fixture.engine.version, /\+[0-9a-f]{7,}$/);
    const again = await ensureEngine(fixture.plan, fixture.cacheDir, fixture.host);
    assert.equal(again.cached, true);
    assert.equal(again.path, fixture.engine.path);
    const manifest = JSON.parse(await readFile(join(fixture.engine.path, '..', 'manifest.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(manifest['device'], 'cpu');
    assert.equal(manifest['source'], 'npm:node-llama-cpp@3.22.1');
    assert.ok((manifest['defines'] as string[]).includes('-DBUILD_SHARED_LIBS=OFF'));
  });

  test('launches the demo pool, writes a valid handoff, serves /health and streams tokens; restarts a killed engine; stops cleanly', async (t) => {
    const fixture = await testEngine();
    const node = await tempNode(
      (dir) => `node_id: itest
runtime_dir: ${dir}/run
cache_dir: ${fixture.cacheDir}
engine: { device: cpu }
pools:
  - { id: demo, model: demo, ctx: 512, slots: 2 }
`,
    );
    const proc = runProvisioner(['up', '--config', node.configFile]);
    const pids = new Set<number>();
    t.after(async () => {
      await stopProcess(proc);
      for (const pid of pids) killPid(pid);
      await node.cleanup();
    });
    const handoffPath = join(node.handoffDir, 'demo-r0.json');
    const handoff = await waitFor('the handoff file', () => readHandoff(handoffPath), 120_000);
    pids.add(handoff.pid);
    assert.equal(handoff.pool_id, 'demo');
    assert.equal(handoff.replica_id, 'r0');
    assert.equal(handoff.engine, 'llamacpp');
    assert.equal(handoff.device, 'cpu');
    assert.equal(handoff.slots_total, 2);
    assert.equal(handoff.ctx, 512);
    assert.equal(handoff.model.path, fixture.demoModel);
    assert.match(handoff.model.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.ok(handoff.flags.includes('--metrics'));
    assert.match(handoff.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(handoff.engine_version, `${fixture.engine.version}-cpu`);
    assert.ok(isAlive(handoff.pid));
    assert.deepEqual(
      (await readdir(node.handoffDir)).filter((n) => n.includes('.tmp')),
      [],
      'no temp file is left beside the handoff',
    );

    assert.deepEqual(
      await listeningAddresses(Number(new URL(handoff.url).port)),
      ['127.0.0.1'],
      'the engine listens on loopback only',
    );

    const health = await request(`${handoff.url}/health`);
    assert.equal(health.statusCode, 200);
    await health.body.dump();

    const stream = await request(`${handoff.url}/completion`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Once upon a time', n_predict: 16, stream: true, ignore_eos: true }),
    });
    assert.equal(stream.statusCode, 200);
    const pieces: string[] = [];
    const parser = createParser({ onEvent: (event) => pieces.push(event.data) });
    for await (const chunk of stream.body) parser.feed((chunk as Buffer).toString());
    const frames = pieces.map((data) => JSON.parse(data) as { content: string; stop: boolean });
    assert.equal(frames.filter((f) => !f.stop).length, 16, 'sixteen token frames');
    assert.equal(frames.at(-1)?.stop, true);

    process.kill(handoff.pid, 'SIGKILL');
    const restarted = await waitFor('a rewritten handoff with a new pid', async () => {
      const next = await readHandoff(handoffPath).catch(() => undefined);
      return next !== undefined && next.pid !== handoff.pid ? next : undefined;
    });
    pids.add(restarted.pid);
    const again = await request(`${restarted.url}/health`);
    assert.equal(again.statusCode, 200);
    await again.body.dump();

    await stopProcess(proc, 20_000);
    assert.equal(await proc.exited, 0, proc.output());
    assert.equal(isAlive(restarted.pid), false, 'the engine is stopped with its provisioner');
    assert.deepEqual(await handoffsIn(node.handoffDir), [], 'a deliberately stopped engine leaves no handoff');
  });

  test('runs in-process as a library service: start, replica states, stop', async (t) => {
    const fixture = await testEngine();
    const node = await tempNode(() => '');
    t.after(node.cleanup);
    const states: string[] = [];
    const provisioner = new EngineProvisioner(
      {
        nodeId: 'lib',
        cacheDir: fixture.cacheDir,
        handoffDir: node.handoffDir,
        engine: { source: 'npm:node-llama-cpp@3.22.1', device: 'cpu', curl: false },
        pools: [{ id: 'lib', model: 'demo', ctx: 512, slots: 1, replicas: 2 }],
        hfEndpoint: 'https://huggingface.co',
      },
      {
        host: fixture.host,
        env: process.env,
        events: { onReplica: (pool, replica, state) => states.push(`${pool}-${replica}:${state}`) },
      },
    );
    t.after(() => provisioner.stop());
    await provisioner.start();
    assert.equal(provisioner.state, 'running');
    assert.deepEqual(
      provisioner.replicas.map((r) => r.state),
      ['running', 'running'],
    );
    assert.deepEqual(await handoffsIn(node.handoffDir), ['lib-r0.json', 'lib-r1.json']);
    const pids = provisioner.replicas.map((r) => r.pid ?? 0);
    await provisioner.stop();
    assert.equal(provisioner.state, 'stopped');
    assert.deepEqual(await handoffsIn(node.handoffDir), []);
    for (const pid of pids) assert.equal(isAlive(pid), false);
    assert.deepEqual(
      states.filter((s) => s.startsWith('lib-r0')),
      ['lib-r0:starting', 'lib-r0:running', 'lib-r0:stopping', 'lib-r0:stopped'],
    );
  });
});
