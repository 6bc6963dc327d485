import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { StartCancelled } from '@llama-orch/lifecycle';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { loadConfig } from '../src/config.ts';
import { NodeAgent } from '../src/node-agent.ts';

/** A node agent on a free loopback port over an empty runtime dir, its log lines kept as JSON. */
async function agent(t: { after: (fn: () => Promise<void>) => void }) {
  const runtimeDir = await mkdtemp(join(tmpdir(), 'pm-agent-'));
  t.after(() => rm(runtimeDir, { recursive: true, force: true }));
  const loaded = await loadConfig({
    POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0',
    POOL_MANAGERD_RUNTIME_DIR: runtimeDir,
    POOL_MANAGERD_NODE_ID: 'node-t',
    PATH: join(runtimeDir, 'no-nvidia-smi-here'),
  });
  assert.ok(loaded.ok);
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const node = new NodeAgent(loaded.config, pino({ level: 'info' }, sink), new Registry(), '0.0.0-test');
  t.after(() => node.stop());
  return { node, lines, runtimeDir };
}

describe('the node agent service', () => {
  test('listens on the asked port, logs its profile and url once, answers, and stops idempotently', async (t) => {
    const { node, lines } = await agent(t);
    assert.equal(node.state, 'idle');
    await node.start();
    assert.equal(node.state, 'running');
    assert.ok(node.address !== null && node.address.port > 0);
    assert.equal(node.url, `http://127.0.0.1:${node.address.port}`);
    const listening = lines.filter((l) => l['msg'] === 'pool-managerd listening');
    assert.equal(listening.length, 1);
    assert.deepEqual(
      [listening[0]?.['profile'], listening[0]?.['node_id'], listening[0]?.['url'], listening[0]?.['in_process']],
      ['home', 'node-t', node.url, false],
    );
    const pools = await request(`${node.url}/v2/pools`);
    assert.deepEqual(await pools.body.json(), { pools: [] });

    await Promise.all([node.stop(), node.stop()]);
    assert.equal(node.state, 'stopped');
    await assert.rejects(request(`${node.url}/health`), 'nothing listens after the stop');
    assert.deepEqual(
      lines.filter((l) => typeof l['state'] === 'string').map((l) => l['state']),
      ['starting', 'running', 'stopping', 'stopped'],
      'each state change is logged once',
    );
  });

  test('a stop during start cancels the start and leaves nothing listening', async (t) => {
    const { node, lines } = await agent(t);
    const starting = node.start();
    const stopped = node.stop();
    await assert.rejects(starting, StartCancelled);
    await stopped;
    assert.equal(node.state, 'stopped');
    assert.equal(node.address, null, 'it never listened');
    assert.equal(lines.filter((l) => l['msg'] === 'pool-managerd listening').length, 0);
  });
});
