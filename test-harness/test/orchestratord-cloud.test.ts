import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { createCa, issueCertificate } from '@llama-orch/tls';
import type { ErrorEnvelope, PoolList } from '@llama-orch/contracts';
import { testEngine } from '../src/engine-fixture.ts';
import { ANSWER_BUDGET_MS, jsonRequest } from '../src/http-json.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { startProcess, waitFor } from '../src/processes.ts';
import { ORCHESTRATORD_CLI } from '../src/orchestratord-process.ts';

const KEY = 'sk-llorch-test-key-0123456789';

describe('orchestratord in the CLOUD profile', { timeout: 45 * 60_000 }, () => {
  test('talks to pool-managerd over mutual TLS and requires an API key from clients, 401s carrying the correlation id', async (t) => {
    const fixture = await testEngine();
    const dir = await mkdtemp(join(tmpdir(), 'llorch-cloud-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const ca = await createCa('cluster CA');
    const write = async (name: string, pem: string) => {
      await writeFile(join(dir, name), pem, { mode: 0o600 });
      return join(dir, name);
    };
    const node = await issueCertificate(ca, { commonName: 'node-0', usage: 'server' });
    const orch = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' });
    const caFile = await write('ca.crt', ca.cert);
    await writeFile(
      join(dir, 'node.yaml'),
      `runtime_dir: ${dir}/run\ncache_dir: ${fixture.cacheDir}\nengine: { device: cpu }\npools: [{ id: demo, model: demo, ctx: 2048, slots: 2 }]\n`,
    );
    const pm = await startPoolManagerd({
      LLORCH_CONFIG: join(dir, 'node.yaml'),
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_TLS_CERT: await write('node.crt', node.cert),
      POOL_MANAGERD_TLS_KEY: await write('node.key', node.key),
      POOL_MANAGERD_TLS_CA: caFile,
    });
    t.after(pm.stop);
    const orchestrator = await startOrchestratord({
      ORCHD_PROFILE: 'cloud',
      ORCHD_POOL_MANAGERS: pm.url,
      ORCHD_TLS_CERT: await write('orch.crt', orch.cert),
      ORCHD_TLS_KEY: await write('orch.key', orch.key),
      ORCHD_TLS_CA: caFile,
      ORCHD_API_KEYS: KEY,
    });
    t.after(orchestrator.stop);
    const auth = { authorization: `Bearer ${KEY}` };
    await waitFor(
      'the pool over mTLS',
      async () =>
        (await jsonRequest<PoolList>(`${orchestrator.url}/v2/pools`, { headers: auth })).body.pools[0]?.ready
          ? true
          : undefined,
      60_000,
    );

    const anonymous = await jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/pools`, {
      headers: { 'x-correlation-id': 'who-are-you' },
    });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.code, 'UNAUTHORIZED');
    assert.equal(anonymous.headers['x-correlation-id'], 'who-are-you');
    const wrong = await jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/tasks`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-wrong-key-0123456789' },
      body: { model_ref: 'demo', prompt: 'x' },
    });
    assert.equal(wrong.status, 401);
    assert.equal((await jsonRequest(`${orchestrator.url}/health`)).status, 200, '/health needs no key');
    assert.ok(!orchestrator.proc.output().includes('sk-wrong-key'), 'keys are logged only as fingerprints');
    // A key in the query string is no credential (it would end up in access logs and browser history).
    for (const name of ['api_key', 'key', 'token', 'access_token']) {
      const query = await jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/pools?${name}=${KEY}`);
      assert.equal(query.status, 401, `?${name}=`);
      assert.equal(query.body.code, 'UNAUTHORIZED');
    }

    const client = new OpenAI({
      baseURL: `${orchestrator.url}/v1`,
      apiKey: KEY,
      maxRetries: 0,
      timeout: ANSWER_BUDGET_MS,
    });
    const answer = await client.chat.completions.create({
      model: 'demo',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
    });
    assert.equal(answer.usage?.completion_tokens, 3);
    await assert.rejects(
      new OpenAI({
        baseURL: `${orchestrator.url}/v1`,
        apiKey: 'sk-nope-0123456789abcdef',
        maxRetries: 0,
        timeout: ANSWER_BUDGET_MS,
      }).models.list(),
      (error: unknown) => error instanceof OpenAI.AuthenticationError,
    );
    // Neither daemon's log holds the key or certificate material, after all of the above.
    for (const [name, output] of [
      ['orchestratord', orchestrator.proc.output()],
      ['pool-managerd', pm.proc.output()],
    ] as const) {
      assert.ok(!output.includes(KEY), `${name} logs no API key`);
      assert.doesNotMatch(output, /-----BEGIN|PRIVATE KEY/, `${name} logs no certificate material`);
    }
  });

  test('refuses to start in the CLOUD profile without TLS material or API keys, naming the variables', async () => {
    const noTls = startProcess(process.execPath, [ORCHESTRATORD_CLI], { ...process.env, ORCHD_PROFILE: 'cloud' });
    assert.equal(await noTls.exited, 2);
    assert.match(
      noTls.output(),
      /ORCHD_PROFILE=cloud requires mutual TLS to pool-managerd: set ORCHD_TLS_CERT, ORCHD_TLS_KEY, ORCHD_TLS_CA/,
    );
    const noKeys = startProcess(process.execPath, [ORCHESTRATORD_CLI], {
      ...process.env,
      ORCHD_PROFILE: 'cloud',
      ORCHD_TLS_CERT: '/c',
      ORCHD_TLS_KEY: '/k',
      ORCHD_TLS_CA: '/a',
    });
    assert.equal(await noKeys.exited, 2);
    assert.match(noKeys.output(), /ORCHD_API_KEYS/);
  });
});
