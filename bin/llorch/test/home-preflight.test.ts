import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runHome, standInConfig } from './home-run.ts';

async function holdPort(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const portOf = (server: Server): number => (server.address() as AddressInfo).port;

describe('llorch home before it starts anything', { timeout: 5 * 60_000 }, () => {
  test('a taken port is named with its variable before anything is provisioned, and nothing starts', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-ports-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const taken = await holdPort();
    t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const config = await standInConfig(dir, `file:${join(dir, 'absent.gguf')}`);

    for (const variable of ['ORCHD_BIND_ADDR', 'POOL_MANAGERD_BIND_ADDR']) {
      const run = await runHome(dir, ['--config', config], { [variable]: `127.0.0.1:${portOf(taken)}` });
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(
        run.stderr,
        new RegExp(
          `^llorch home: 127\\.0\\.0\\.1:${portOf(taken)} \\(${variable}\\) is in use by another program\\.$`,
          'm',
        ),
      );
      assert.match(run.stderr, /ORCHD_BIND_ADDR=127\.0\.0\.1:8081 POOL_MANAGERD_BIND_ADDR=127\.0\.0\.1:9201/);
      assert.equal(existsSync(join(dir, 'run', 'logs', 'pool-managerd.log')), false, 'pool-managerd never started');
      assert.doesNotMatch(run.stdout, /llama-orch HOME/);
    }
  });

  test('a non-loopback ORCHD_BIND_ADDR needs ORCHD_API_KEYS or --insecure-lan, which says what it exposes', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-lan-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const config = await standInConfig(dir, `file:${join(dir, 'absent.gguf')}`);
    const lan = { ORCHD_BIND_ADDR: '0.0.0.0:0' };

    const refused = await runHome(dir, ['--config', config], lan);
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      /^llorch home: ORCHD_BIND_ADDR=0\.0\.0\.0:0 would serve .* to your network with no key\.$/m,
    );
    assert.match(refused.stderr, /Set ORCHD_API_KEYS=/);
    assert.match(refused.stderr, /--insecure-lan/);
    assert.equal(existsSync(join(dir, 'run')), false, 'nothing was started, not even the state directory');

    const insecure = await runHome(dir, ['--config', config, '--insecure-lan'], lan);
    assert.match(
      insecure.stdout,
      /^WARNING \(--insecure-lan\): orchestratord listens on 0\.0\.0\.0:0 with NO authentication\.$/m,
    );
    assert.match(insecure.stdout, /pool drain and reload/);
    assert.equal(insecure.code, 1, 'it went on (and met the missing model)');
    assert.match(insecure.stderr, /pool broken failed: model file .*absent\.gguf does not exist/);

    const keyed = await runHome(dir, ['--config', config], { ...lan, ORCHD_API_KEYS: 'k-123' });
    assert.match(keyed.stdout, /orchestratord listens on 0\.0\.0\.0:0 beyond this machine: every request needs a key/);
    assert.doesNotMatch(keyed.stdout + keyed.stderr, /WARNING|k-123/);
    assert.equal(keyed.code, 1);
  });
});
