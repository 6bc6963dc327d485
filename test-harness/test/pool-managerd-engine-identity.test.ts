/**
 * A handoff is only a file: pool-managerd takes its engine as ready only when the pid it names is a llama-server
 * that itself listens on the handoff's port. An impostor — an unrelated process's pid with another listener's URL,
 * or the real engine's pid with someone else's URL — never becomes ready and never gets a prompt.
 */
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { handoffFileName, type Handoff, type PoolStatus } from '@llama-orch/contracts';
import { demoEngines } from '../src/demo-node.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { readHandoff } from '../src/provisioner-cli.ts';

/** A loopback listener that answers /health like llama-server and records every request it gets. */
async function impostor(): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(req.url === '/health' ? '{"status":"ok"}' : '{"choices":[]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function writeHandoff(dir: string, handoff: Handoff): Promise<void> {
  const file = join(dir, handoffFileName(handoff.pool_id, handoff.replica_id));
  await writeFile(`${file}.tmp`, JSON.stringify(handoff));
  await rename(`${file}.tmp`, file);
}

const status = async (url: string, pool: string): Promise<PoolStatus> =>
  (await jsonRequest<PoolStatus>(`${url}/v2/pools/${pool}/status`)).body;

describe('pool-managerd confirms the engine a handoff names', { timeout: 10 * 60_000 }, () => {
  test('a real engine passes; another pid or another listener is refused with its reason and gets no prompt', async (t) => {
    const engines = await demoEngines([{ id: 'real', slots: 1 }]);
    t.after(engines.cleanup);
    const fake = await impostor();
    t.after(fake.close);
    const real = await readHandoff(join(engines.handoffDir, 'real-r0.json'));
    assert.ok(real);

    const pm = await startPoolManagerd({
      POOL_MANAGERD_RUNTIME_DIR: engines.runtimeDir,
      POOL_MANAGERD_HEALTH_INTERVAL_MS: '200',
    });
    t.after(pm.stop);
    // The impostors: this test's own pid with the listener's URL, and the real engine's pid with it.
    await writeHandoff(engines.handoffDir, { ...real, pool_id: 'other-pid', pid: process.pid, url: fake.url });
    await writeHandoff(engines.handoffDir, { ...real, pool_id: 'other-port', url: fake.url });
    await waitFor('the real pool to be ready', async () => ((await status(pm.url, 'real')).ready ? true : undefined));
    const port = new URL(fake.url).port;
    for (const [pool, reason] of [
      ['other-pid', new RegExp(`^process ${process.pid} is not llama-server \\(it runs node\\)$`)],
      ['other-port', new RegExp(`^llama-server ${real.pid} does not listen on port ${port} of its handoff's url$`)],
    ] as const) {
      const refused = await waitFor(`${pool} to be refused`, async () => {
        const s = await status(pm.url, pool);
        return typeof s.last_error === 'string' ? s : undefined;
      });
      assert.equal(refused.ready, false, pool);
      assert.match(refused.last_error ?? '', reason, pool);
    }
    // Several health rounds later they are still not ready, and a dispatch to them never reaches the listener.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    for (const pool of ['other-pid', 'other-port']) {
      assert.equal((await status(pm.url, pool)).ready, false, pool);
      const dispatch = await jsonRequest(`${pm.url}/v2/pools/${pool}/dispatch`, {
        method: 'POST',
        body: { endpoint: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'secret prompt' }] } },
      });
      assert.equal(dispatch.status, 503, pool);
    }
    assert.deepEqual(
      fake.seen.filter((r) => !r.startsWith('GET /health')),
      [],
    );
  });
});
