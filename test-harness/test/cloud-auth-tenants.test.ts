import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { createCa, issueCertificate, type CertificateAuthority } from '@llama-orch/tls';
import type { ErrorEnvelope, PoolList, ReloadResponse, SessionInfo } from '@llama-orch/contracts';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOidcIssuer, type OidcIssuer } from '../src/oidc-issuer.ts';
import { startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd, type PoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents } from '../src/sse.ts';

const A = 'sk-tenant-a-0123456789abcdef';
const B = 'sk-tenant-b-0123456789abcdef';
const ADMIN = 'sk-operator-0123456789abcdef';
/** What /etc/passwd starts with: a file a reload must never echo. */
const SECRET_TEXT = 'root:x:0:0:root:/root:/bin/bash\n';

/** A loopback TCP server that counts who connects (a URL a client named; pool-managerd must never reach it). */
async function countingServer(): Promise<{ port: number; connections: () => number; server: Server }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { port: address.port, connections: () => connections, server };
}

interface World {
  dir: string;
  ca: CertificateAuthority;
  caFile: string;
  pm: PoolManagerd;
  orchestrator: Orchestratord;
  issuer: OidcIssuer;
  target: Awaited<ReturnType<typeof countingServer>>;
  write(name: string, text: string): Promise<string>;
}

describe('tenants and roles in the CLOUD profile', { timeout: 45 * 60_000 }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  let world: World;
  const headers = (who: string) => ({ authorization: `Bearer ${who}` });

  before(async () => {
    const fixture = await testEngine();
    const dir = await mkdtemp(join(tmpdir(), 'llorch-tenants-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const write = async (name: string, text: string) => {
      await writeFile(join(dir, name), text, { mode: 0o600 });
      return join(dir, name);
    };
    const ca = await createCa('tenants CA');
    const caFile = await write('ca.crt', ca.cert);
    const node = await issueCertificate(ca, { commonName: 'node-0', usage: 'server' });
    const orch = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' });
    await mkdir(join(dir, 'models'));
    await write('models/passwd.gguf', SECRET_TEXT);
    const target = await countingServer();
    cleanups.push(() => new Promise((resolve) => target.server.close(resolve)));
    await write(
      'node.yaml',
      `runtime_dir: ${dir}/run\ncache_dir: ${fixture.cacheDir}\nengine: { device: cpu }\npools: [{ id: demo, model: demo, ctx: 2048, slots: 2 }]\n`,
    );
    const pm = await startPoolManagerd({
      LLORCH_CONFIG: join(dir, 'node.yaml'),
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_TLS_CERT: await write('node.crt', node.cert),
      POOL_MANAGERD_TLS_KEY: await write('node.key', node.key),
      POOL_MANAGERD_TLS_CA: caFile,
      POOL_MANAGERD_MODEL_ALLOWLIST: `file:${dir}/models/*,https://127.0.0.1:${target.port}/models/*`,
    });
    cleanups.push(pm.stop);
    const issuer = await startOidcIssuer();
    cleanups.push(() => issuer.close());
    const orchestrator = await startOrchestratord({
      ORCHD_PROFILE: 'cloud',
      ORCHD_POOL_MANAGERS: pm.url,
      ORCHD_TLS_CERT: await write('orch.crt', orch.cert),
      ORCHD_TLS_KEY: await write('orch.key', orch.key),
      ORCHD_TLS_CA: caFile,
      ORCHD_API_KEYS: `${A} client,${B},${ADMIN} admin`,
      ORCHD_OIDC_ISSUER: issuer.issuer,
      ORCHD_OIDC_AUDIENCE: 'llama-orch',
      ORCHD_RECONNECT_GRACE_MS: '60000',
    });
    cleanups.push(orchestrator.stop);
    world = { dir, ca, caFile, pm, orchestrator, issuer, target, write };
    await waitFor(
      'the pool ready in orchestratord',
      async () =>
        (await jsonRequest<PoolList>(`${orchestrator.url}/v2/pools`, { headers: headers(A) })).body.pools[0]?.ready
          ? true
          : undefined,
      120_000,
    );
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('another identity gets 404 for a task and a session it does not own; its own session of the same id is its own', async () => {
    const url = world.orchestrator.url;
    const carol = `Bearer ${await world.issuer.sign({ subject: 'carol' })}`;
    const admitted = await jsonRequest<{ task_id: string }>(`${url}/v2/tasks`, {
      method: 'POST',
      headers: headers(A),
      body: { task_id: 'a-task', model_ref: 'demo', prompt: 'Go on:', max_tokens: 4, session_id: 's1' },
    });
    assert.equal(admitted.status, 202);
    const own = await followEvents(`${url}/v2/tasks/a-task/events`, { headers: headers(A) });
    assert.equal(own.events.at(-1)?.event, 'end');
    assert.equal((await jsonRequest<SessionInfo>(`${url}/v2/sessions/s1`, { headers: headers(A) })).body.turns, 1);

    for (const [who, authorization] of [
      ['key B', `Bearer ${B}`],
      ['OIDC subject carol', carol],
    ] as const) {
      const as = { authorization };
      const events = await jsonRequest<ErrorEnvelope>(`${url}/v2/tasks/a-task/events`, { headers: as });
      assert.equal(events.status, 404, `${who}: events`);
      assert.equal(events.body.code, 'NOT_FOUND');
      const cancel = await jsonRequest(`${url}/v2/tasks/a-task/cancel`, { method: 'POST', headers: as });
      assert.equal(cancel.status, 404, `${who}: cancel`);
      assert.equal((await jsonRequest(`${url}/v2/sessions/s1`, { headers: as })).status, 404, `${who}: session`);
      const deleted = await jsonRequest(`${url}/v2/sessions/s1`, { method: 'DELETE', headers: as });
      assert.equal(deleted.status, 404, `${who}: session delete`);
    }
    const mine = await jsonRequest<SessionInfo>(`${url}/v2/sessions/s1`, { headers: headers(A) });
    assert.equal(mine.status, 200, "A's session is still there");

    assert.equal(
      (
        await jsonRequest(`${url}/v2/tasks`, {
          method: 'POST',
          headers: headers(B),
          body: { task_id: 'b-task', model_ref: 'demo', prompt: 'Go on:', max_tokens: 2, session_id: 's1' },
        })
      ).status,
      202,
    );
    assert.equal(
      (await followEvents(`${url}/v2/tasks/b-task/events`, { headers: headers(B) })).events.at(-1)?.event,
      'end',
    );
    const theirs = await jsonRequest<SessionInfo>(`${url}/v2/sessions/s1`, { headers: headers(B) });
    assert.deepEqual([theirs.status, theirs.body.session_id, theirs.body.turns], [200, 's1', 1]);
    assert.equal((await jsonRequest<SessionInfo>(`${url}/v2/sessions/s1`, { headers: headers(A) })).body.turns, 1);
    assert.equal((await jsonRequest(`${url}/v2/sessions/s1`, { method: 'DELETE', headers: headers(A) })).status, 204);
    assert.equal((await jsonRequest(`${url}/v2/sessions/s1`, { headers: headers(B) })).status, 200);
  });

  test('a client may not drain or reload; an admin cancels any task, and the cancel is logged with its identity', async () => {
    const url = world.orchestrator.url;
    for (const action of ['drain', 'reload'] as const) {
      const refused = await jsonRequest<ErrorEnvelope>(`${url}/v2/pools/demo/${action}`, {
        method: 'POST',
        headers: headers(A),
        body: action === 'drain' ? { deadline_ms: 1000 } : { model_ref: 'demo' },
      });
      assert.equal(refused.status, 403, action);
      assert.equal(refused.body.code, 'FORBIDDEN');
    }
    const admitted = await jsonRequest(`${url}/v2/tasks`, {
      method: 'POST',
      headers: headers(A),
      body: { task_id: 'a-long', model_ref: 'demo', prompt: 'Go on:', max_tokens: 100_000, ignore_eos: true },
    });
    assert.equal(admitted.status, 202);
    assert.equal(
      (await jsonRequest(`${url}/v2/tasks/a-long/cancel`, { method: 'POST', headers: headers(ADMIN) })).status,
      204,
    );
    const replay = await followEvents(`${url}/v2/tasks/a-long/events`, { headers: headers(ADMIN) });
    assert.deepEqual(replay.events.at(-1)?.data['finish_reason'], 'canceled', 'the admin reads the task too');
    const adminLabel = await waitFor(
      'the cancel in the log',
      () => {
        const line = world.orchestrator.proc
          .output()
          .split('\n')
          .find((l) => l.includes('"task canceled"') && l.includes('"task_id":"a-long"'));
        return line === undefined
          ? undefined
          : (JSON.parse(line) as { identity: string; role: string; own_task: boolean });
      },
      5_000,
    );
    assert.match(adminLabel.identity, /^key:[0-9a-f]{6}$/);
    assert.deepEqual([adminLabel.role, adminLabel.own_task], ['admin', false]);
    const output = world.orchestrator.proc.output();
    for (const key of [A, B, ADMIN]) assert.ok(!output.includes(key), 'keys are logged only by fingerprint');
    assert.match(output, /clients reach orchestratord over plain HTTP/, 'CLOUD without server TLS warns at start');
  });

  test('reload reaches only allow-listed models, never connects or reads for others, and never echoes file contents', async () => {
    const url = world.orchestrator.url;
    const reload = (model_ref: string) =>
      jsonRequest<ReloadResponse & ErrorEnvelope>(`${url}/v2/pools/demo/reload`, {
        method: 'POST',
        headers: headers(ADMIN),
        body: { model_ref },
      });
    const port = world.target.port;
    for (const ref of [
      'file:/etc/passwd',
      `file:${world.dir}/models/../node.key`,
      `file:${world.dir}/modelsX/passwd.gguf`,
      `https://127.0.0.1:${port}/elsewhere/model.gguf`,
      `https://127.0.0.1:${port}/models/%2e%2e/model.gguf`,
      `https://127.0.0.1:${port}/models/../model.gguf`,
      'hf:someone/anything/model.gguf',
    ]) {
      const refused = await reload(ref);
      assert.equal(refused.status, 403, ref);
      assert.equal(refused.body.code, 'FORBIDDEN', ref);
      assert.match(refused.body.message, /not on this node's model allow-list/);
    }
    assert.equal(world.target.connections(), 0, 'pool-managerd never connected to a URL outside the list');

    const notGguf = await reload(`file:${world.dir}/models/passwd.gguf`);
    assert.equal(notGguf.status, 200);
    assert.equal(notGguf.body.rolled_back, true);
    assert.match(notGguf.body.message ?? '', /^PROV_MODEL_NOT_GGUF: /);
    const fetched = await reload(`https://127.0.0.1:${port}/models/model.gguf`);
    assert.equal(fetched.body.rolled_back, true);
    assert.match(fetched.body.message ?? '', /^PROV_MODEL_FETCH_FAILED: /);
    assert.ok(world.target.connections() > 0, 'an allow-listed URL is fetched');
    // last_error shows only while a pool is not ready; what it would show is the reload's public message.
    const pools = (await jsonRequest<PoolList>(`${url}/v2/pools`, { headers: headers(A) })).body;
    for (const answer of [JSON.stringify(notGguf.body), JSON.stringify(fetched.body), JSON.stringify(pools)]) {
      assert.ok(!answer.includes('root'), `no file content in ${answer}`);
      assert.ok(!/ECONN|socket|other side closed/i.test(answer), `no network error in ${answer}`);
    }
    assert.match(world.pm.proc.output(), /starts with \\"root\\"/, 'the log keeps the detail for the operator');
    await waitFor(
      'the reload logged with the admin identity',
      () =>
        world.orchestrator.proc
          .output()
          .split('\n')
          .some((l) => l.includes('"pool reload requested"') && /"identity":"key:[0-9a-f]{6}"/.test(l))
          ? true
          : undefined,
      5_000,
    );
  });

  test('a CLOUD pool-managerd without an allow-list takes only its configured models and the demo', async (t) => {
    const fixture = await testEngine();
    const config = await world.write(
      'other-node.yaml',
      `runtime_dir: ${world.dir}/run-other\ncache_dir: ${fixture.cacheDir}\nengine: { device: cpu }\npools: [{ id: other, model: demo, ctx: 512, slots: 1 }]\n`,
    );
    const node = await issueCertificate(world.ca, { commonName: 'node-1', usage: 'server' });
    const client = await issueCertificate(world.ca, { commonName: 'operator', usage: 'client' });
    const pm = await startPoolManagerd({
      LLORCH_CONFIG: config,
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_TLS_CERT: await world.write('node-1.crt', node.cert),
      POOL_MANAGERD_TLS_KEY: await world.write('node-1.key', node.key),
      POOL_MANAGERD_TLS_CA: world.caFile,
    });
    t.after(pm.stop);
    const dispatcher = new Agent({ connect: { ca: world.ca.cert, cert: client.cert, key: client.key } });
    t.after(() => dispatcher.close());
    const before = world.target.connections();
    for (const ref of [`https://127.0.0.1:${world.target.port}/models/model.gguf`, 'file:/etc/passwd']) {
      const refused = await jsonRequest<ErrorEnvelope>(`${pm.url}/v2/pools/other/reload`, {
        method: 'POST',
        body: { model_ref: ref },
        dispatcher,
      });
      assert.equal(refused.status, 403, ref);
      assert.equal(refused.body.code, 'FORBIDDEN');
    }
    assert.equal(world.target.connections(), before);
  });
});
