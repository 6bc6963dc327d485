import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Agent } from 'undici';
import { createCa, issueCertificate } from '@llama-orch/tls';
import type { ErrorEnvelope } from '@llama-orch/contracts';
import { freePort } from '../src/free-port.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { waitFor } from '../src/processes.ts';

const OLD = 'sk-rotated-out-0123456789';
const NEW = 'sk-rotated-in-0123456789';

describe('orchestratord API keys from a file, and HTTPS for clients', { timeout: 5 * 60_000 }, () => {
  test('takes a Kubernetes Secret update of ORCHD_API_KEYS_FILE without a restart, and keeps the old keys when the new file is bad', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-keys-file-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const publish = async (version: string, text: string, first = false): Promise<void> => {
      await mkdir(join(dir, version));
      await writeFile(join(dir, version, 'keys'), text);
      if (first) {
        await symlink(version, join(dir, '..data'));
        await symlink('..data/keys', join(dir, 'keys'));
        return;
      }
      await symlink(version, join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    await publish('..v1', `# tenants\n${OLD}\n`, true);
    const orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: `http://127.0.0.1:${await freePort()}`,
      ORCHD_API_KEYS_FILE: join(dir, 'keys'),
    });
    t.after(orchestrator.stop);
    const status = async (key: string) =>
      (await jsonRequest(`${orchestrator.url}/v2/meta/version`, { headers: { 'x-api-key': key } })).status;
    assert.equal(await status(OLD), 200);
    assert.equal(await status(NEW), 401);

    await publish('..v2', `${NEW} admin\n`);
    await waitFor('the new key', async () => ((await status(NEW)) === 200 ? true : undefined), 10_000);
    assert.equal(await status(OLD), 401, 'the removed key is refused');
    const drain = await jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/pools/nowhere/drain`, {
      method: 'POST',
      headers: { 'x-api-key': NEW },
      body: { deadline_ms: 1 },
    });
    assert.equal(drain.status, 404, 'the role from the file line applies (admin passes to the pool lookup)');

    await publish('..v3', `${OLD}\nnot-a-key\n`);
    await waitFor(
      'the refusal in the log',
      () => (orchestrator.proc.output().includes('API keys file refused') ? true : undefined),
      10_000,
    );
    assert.equal(await status(NEW), 200, 'the keys in use stay');
    assert.equal(await status(OLD), 401);
    assert.equal(orchestrator.proc.child.exitCode, null, 'no restart');
    const output = orchestrator.proc.output();
    assert.match(output, /"problem":"line 2: each API key needs at least 16 characters"/);
    for (const secret of [OLD, NEW, 'not-a-key']) assert.ok(!output.includes(secret), 'no key in the log');
  });

  test('serves HTTPS to clients with ORCHD_SERVER_TLS_CERT and ORCHD_SERVER_TLS_KEY', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-https-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const ca = await createCa('clients CA');
    const server = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'server' });
    await writeFile(join(dir, 'server.crt'), server.cert);
    await writeFile(join(dir, 'server.key'), server.key, { mode: 0o600 });
    const orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: `http://127.0.0.1:${await freePort()}`,
      ORCHD_API_KEYS: NEW,
      ORCHD_SERVER_TLS_CERT: join(dir, 'server.crt'),
      ORCHD_SERVER_TLS_KEY: join(dir, 'server.key'),
    });
    t.after(orchestrator.stop);
    assert.match(orchestrator.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const dispatcher = new Agent({ connect: { ca: ca.cert } });
    t.after(() => dispatcher.close());
    const answer = await jsonRequest(`${orchestrator.url}/v2/meta/version`, {
      headers: { authorization: `Bearer ${NEW}` },
      dispatcher,
    });
    assert.equal(answer.status, 200);
    const anonymous = await jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/meta/version`, { dispatcher });
    assert.equal(anonymous.status, 401);
    await assert.rejects(
      jsonRequest(orchestrator.url.replace('https:', 'http:') + '/health', { timeoutMs: 5_000 }),
      'plain HTTP is not served',
    );
  });
});
