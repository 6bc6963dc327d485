import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { createCa, issueCertificate, mtlsAgent } from '@llama-orch/tls';
import { startPoolManagerd, POOL_MANAGERD_CLI } from '../src/pool-managerd-process.ts';
import { startProcess } from '../src/processes.ts';

async function material(dir: string) {
  const ca = await createCa('cluster CA');
  const other = await createCa('someone else');
  const write = async (name: string, pem: string) => {
    const path = join(dir, name);
    await writeFile(path, pem, { mode: 0o600 });
    return path;
  };
  const server = await issueCertificate(ca, { commonName: 'node-a', usage: 'server' });
  const client = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' });
  const stranger = await issueCertificate(other, { commonName: 'mallory', usage: 'client' });
  return {
    caFile: await write('ca.crt', ca.cert),
    serverCert: await write('node.crt', server.cert),
    serverKey: await write('node.key', server.key),
    client: { certFile: await write('client.crt', client.cert), keyFile: await write('client.key', client.key) },
    stranger: {
      certFile: await write('stranger.crt', stranger.cert),
      keyFile: await write('stranger.key', stranger.key),
    },
    caPem: ca.cert,
  };
}

describe('pool-managerd over mutual TLS', () => {
  test('refuses a client without a certificate or with one from another CA, and answers the cluster client', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-mtls-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const m = await material(dir);
    const pm = await startPoolManagerd({
      POOL_MANAGERD_RUNTIME_DIR: join(dir, 'run'),
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_TLS_CERT: m.serverCert,
      POOL_MANAGERD_TLS_KEY: m.serverKey,
      POOL_MANAGERD_TLS_CA: m.caFile,
    });
    t.after(pm.stop);
    assert.match(pm.url, /^https:\/\/127\.0\.0\.1:\d+$/);

    const anonymous = new Agent({ connect: { ca: m.caPem } });
    t.after(() => anonymous.close());
    await assert.rejects(request(`${pm.url}/health`, { dispatcher: anonymous }));

    const foreign = await mtlsAgent({ ...m.stranger, caFile: m.caFile });
    t.after(() => foreign.close());
    await assert.rejects(request(`${pm.url}/health`, { dispatcher: foreign }));

    const cluster = await mtlsAgent({ ...m.client, caFile: m.caFile });
    t.after(() => cluster.close());
    const answer = await request(`${pm.url}/v2/pools`, { dispatcher: cluster });
    assert.equal(answer.statusCode, 200);
    assert.deepEqual(await answer.body.json(), { pools: [] });
  });

  test('will not start in the CLOUD profile without all three TLS files, nor serve plain HTTP off loopback', async () => {
    const cloud = startProcess(process.execPath, [POOL_MANAGERD_CLI], {
      ...process.env,
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_TLS_CERT: '/x.crt',
    });
    assert.equal(await cloud.exited, 2);
    assert.match(
      cloud.output(),
      /POOL_MANAGERD_PROFILE=cloud requires mutual TLS: set POOL_MANAGERD_TLS_KEY, POOL_MANAGERD_TLS_CA/,
    );
    const exposed = startProcess(process.execPath, [POOL_MANAGERD_CLI], {
      ...process.env,
      POOL_MANAGERD_BIND_ADDR: '0.0.0.0:9200',
    });
    assert.equal(await exposed.exited, 2);
    assert.match(exposed.output(), /POOL_MANAGERD_BIND_ADDR: plain HTTP only on loopback/);
    const bad = startProcess(process.execPath, [POOL_MANAGERD_CLI], {
      ...process.env,
      POOL_MANAGERD_WATCH_INTERVAL_MS: 'often',
    });
    assert.equal(await bad.exited, 2);
    assert.match(bad.output(), /POOL_MANAGERD_WATCH_INTERVAL_MS: /);
  });
});
