import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Agent, type Dispatcher } from 'undici';
import { createCa, issueCertificate, mtlsAgent, type PemPair } from '@llama-orch/tls';
import type { ErrorEnvelope, Handoff, PoolList } from '@llama-orch/contracts';
import { logged, type LogLine } from '../src/daemon-logs.ts';
import { demoEngines, type DemoEngines } from '../src/demo-node.ts';
import { freePort } from '../src/free-port.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { POOL_MANAGERD_CLI, startPoolManagerd } from '../src/pool-managerd-process.ts';
import { startProcess, waitFor } from '../src/processes.ts';
import { readHandoff } from '../src/provisioner-cli.ts';
import { followEvents } from '../src/sse.ts';

const POLL_INTERVAL_MS = '5000';
/** The promise: with callbacks a new handoff is placeable within this long, whatever the poll interval. */
const PLACEABLE_MS = 250;
const KEY = 'sk-llorch-callback-key-0123456789';

const callbackTaken =
  (expected: LogLine) =>
  (line: LogLine): boolean =>
    line['msg'] === 'readiness callback; polling the pool-managerds now' &&
    Object.entries(expected).every(([key, value]) => line[key] === value);

async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Orchestrator {
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly dispatcher?: Dispatcher;
}

const options = (orch: Orchestrator) => ({
  ...(orch.headers === undefined ? {} : { headers: orch.headers }),
  ...(orch.dispatcher === undefined ? {} : { dispatcher: orch.dispatcher }),
});

/**
 * Hand `handoff`, as pool `poolId`, to the pool-managerd watching `runtimeDir` (atomically, as engine-provisioner
 * writes it) and time how long until orchestratord lists that pool as ready, i.e. placeable.
 */
async function placeableAfter(handoff: Handoff, poolId: string, runtimeDir: string, orch: Orchestrator) {
  const pools = async () => (await jsonRequest<PoolList>(`${orch.url}/v2/pools`, options(orch))).body.pools;
  assert.ok(!(await pools()).some((p) => p.pool_id === poolId), `orchestratord knows no ${poolId} before its handoff`);
  const dir = join(runtimeDir, 'engines');
  await mkdir(dir, { recursive: true });
  const started = performance.now();
  await writeFile(join(dir, `.${poolId}-r0.json.tmp`), JSON.stringify({ ...handoff, pool_id: poolId }));
  await rename(join(dir, `.${poolId}-r0.json.tmp`), join(dir, `${poolId}-r0.json`));
  await waitFor(
    `pool ${poolId} ready in orchestratord`,
    async () => ((await pools()).some((p) => p.pool_id === poolId && p.ready) ? true : undefined),
    15_000,
    5,
  );
  return Math.round(performance.now() - started);
}

/**
 * Three new handoffs one after the other, all well before orchestratord's next poll (it listens right after its
 * first one): the median and every figure. The median keeps one scheduling hiccup on a busy machine from deciding.
 */
async function placeableWithCallbacks(handoff: Handoff, runtimeDir: string, orch: Orchestrator) {
  const figures: number[] = [];
  for (const poolId of ['late-1', 'late-2', 'late-3'])
    figures.push(await placeableAfter(handoff, poolId, runtimeDir, orch));
  return { median: [...figures].sort((a, b) => a - b)[1] ?? Infinity, figures };
}

describe('readiness callbacks', { timeout: 45 * 60_000 }, () => {
  let engines: DemoEngines | null = null;
  let handoff: Handoff;
  before(async () => {
    engines = await demoEngines([{ id: 'late', slots: 2 }]);
    const dir = engines.handoffDir;
    handoff = await waitFor('the engine handoff', () => readHandoff(join(dir, 'late-r0.json')), 60_000);
  });
  after(() => engines?.cleanup());

  test('at a 5 s poll interval a new handoff is placeable in under 250 ms with callbacks (median of three), and not within 250 ms without them', async (t) => {
    const port = await freePort();
    const runtimeDir = await tempDir(t, 'llorch-callbacks-');
    const pm = await startPoolManagerd({
      POOL_MANAGERD_RUNTIME_DIR: runtimeDir,
      POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: `http://127.0.0.1:${port}/callbacks/pool-ready`,
    });
    t.after(pm.stop);
    const orchestrator = await startOrchestratord({
      ORCHD_BIND_ADDR: `127.0.0.1:${port}`,
      ORCHD_POOL_MANAGERS: pm.url,
      ORCHD_POOL_POLL_INTERVAL_MS: POLL_INTERVAL_MS,
    });
    t.after(orchestrator.stop);
    const withCallbacks = await placeableWithCallbacks(handoff, runtimeDir, orchestrator);
    assert.ok(
      withCallbacks.median < PLACEABLE_MS,
      `placeable ${withCallbacks.figures.join(', ')} ms after the handoffs, with callbacks`,
    );
    await logged(
      orchestrator.proc.output,
      'the ready callback over loopback',
      callbackTaken({ pool_id: 'late-1', state: 'ready', peer: '127.0.0.1' }),
    );
    // Placeable means placed: a task starts on the new pool at once.
    const admitted = await jsonRequest(`${orchestrator.url}/v2/tasks`, {
      method: 'POST',
      body: { task_id: 'on-late', model_ref: 'demo', prompt: 'x', max_tokens: 4 },
    });
    assert.equal(admitted.status, 202);
    const { events } = await followEvents(`${orchestrator.url}/v2/tasks/on-late/events`);
    assert.equal(events[0]?.event, 'started');
    assert.match(String(events[0].data['pool_id']), /^late-[123]$/);
    assert.equal(events.at(-1)?.event, 'end');
    await orchestrator.stop();
    await pm.stop();

    // The control: the same, without callbacks, waits for the next poll.
    const plainDir = await tempDir(t, 'llorch-callbacks-');
    const plainPm = await startPoolManagerd({ POOL_MANAGERD_RUNTIME_DIR: plainDir });
    t.after(plainPm.stop);
    const plainOrchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: plainPm.url,
      ORCHD_POOL_POLL_INTERVAL_MS: POLL_INTERVAL_MS,
    });
    t.after(plainOrchestrator.stop);
    // orchestratord listens right after its first poll: the next one is about 5 s away.
    const withoutCallbacks = await placeableAfter(handoff, 'late-1', plainDir, plainOrchestrator);
    assert.ok(
      withoutCallbacks >= PLACEABLE_MS,
      `placeable ${withoutCallbacks} ms after the handoff, without callbacks`,
    );
    t.diagnostic(
      `placeable after a new handoff: ${withCallbacks.figures.join(', ')} ms with callbacks, ${withoutCallbacks} ms without`,
    );
  });

  test("over HTTPS a callback needs a client certificate from the cluster CA: none, another CA's, or an API key alone are refused; pool-managerd's own certificate brings a new handoff into placement in under 250 ms (median of three)", async (t) => {
    const dir = await tempDir(t, 'llorch-callbacks-tls-');
    const ca = await createCa('cluster CA');
    const other = await createCa('someone else');
    const write = async (name: string, pair: PemPair) => {
      await writeFile(join(dir, `${name}.crt`), pair.cert);
      await writeFile(join(dir, `${name}.key`), pair.key, { mode: 0o600 });
      return { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    };
    const caFile = join(dir, 'ca.crt');
    await writeFile(caFile, ca.cert);
    // The node's certificate serves its API and presents itself on callbacks: server and client usage.
    const node = await write('node', await issueCertificate(ca, { commonName: 'node-0', usage: 'both' }));
    const orchClient = await write(
      'orch',
      await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' }),
    );
    const orchServer = await write('https', await issueCertificate(ca, { commonName: 'api', usage: 'server' }));
    const caller = await write('caller', await issueCertificate(ca, { commonName: 'caller', usage: 'client' }));
    const stranger = await write('stranger', await issueCertificate(other, { commonName: 'mallory', usage: 'client' }));

    const port = await freePort();
    const runtimeDir = join(dir, 'run');
    const pm = await startPoolManagerd({
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_RUNTIME_DIR: runtimeDir,
      POOL_MANAGERD_NODE_ID: 'node-0',
      POOL_MANAGERD_TLS_CERT: node.certFile,
      POOL_MANAGERD_TLS_KEY: node.keyFile,
      POOL_MANAGERD_TLS_CA: caFile,
      POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: `https://127.0.0.1:${port}/callbacks/pool-ready`,
    });
    t.after(pm.stop);
    const orchestrator = await startOrchestratord({
      ORCHD_PROFILE: 'cloud',
      ORCHD_BIND_ADDR: `127.0.0.1:${port}`,
      ORCHD_POOL_MANAGERS: pm.url,
      ORCHD_POOL_POLL_INTERVAL_MS: POLL_INTERVAL_MS,
      ORCHD_TLS_CERT: orchClient.certFile,
      ORCHD_TLS_KEY: orchClient.keyFile,
      ORCHD_TLS_CA: caFile,
      ORCHD_SERVER_TLS_CERT: orchServer.certFile,
      ORCHD_SERVER_TLS_KEY: orchServer.keyFile,
      ORCHD_API_KEYS: KEY,
    });
    t.after(orchestrator.stop);
    assert.equal(orchestrator.url, `https://127.0.0.1:${port}`);
    const anonymous = new Agent({ connect: { ca: ca.cert } });
    t.after(() => anonymous.close());
    const auth = { authorization: `Bearer ${KEY}` };

    // First, while orchestratord's next poll is still about 5 s away: the node's own callbacks over mTLS.
    const placeable = await placeableWithCallbacks(handoff, runtimeDir, {
      url: orchestrator.url,
      dispatcher: anonymous,
      headers: auth,
    });
    assert.ok(
      placeable.median < PLACEABLE_MS,
      `placeable ${placeable.figures.join(', ')} ms after the handoffs, callbacks over mTLS`,
    );
    await logged(
      orchestrator.proc.output,
      "the ready callback with the node's certificate",
      callbackTaken({ pool_id: 'late-1', node_id: 'node-0', state: 'ready', subject: 'node-0' }),
    );
    t.diagnostic(`placeable after a new handoff, callbacks over mTLS: ${placeable.figures.join(', ')} ms`);

    const foreign = await mtlsAgent({ ...stranger, caFile });
    t.after(() => foreign.close());
    const cluster = await mtlsAgent({ ...caller, caFile });
    t.after(() => cluster.close());
    const callback = (dispatcher: Dispatcher, body: unknown, headers: Record<string, string> = {}) =>
      jsonRequest<ErrorEnvelope | null>(`${orchestrator.url}/callbacks/pool-ready`, {
        method: 'POST',
        dispatcher,
        headers,
        body,
      });
    const change = { pool_id: 'elsewhere', node_id: 'node-9', state: 'ready' };

    for (const [who, answer] of [
      ['no client certificate', await callback(anonymous, change)],
      ['an API key and no certificate', await callback(anonymous, change, auth)],
      ["another CA's certificate", await callback(foreign, change)],
    ] as const) {
      assert.equal(answer.status, 401, who);
      assert.equal(answer.body?.code, 'UNAUTHORIZED', who);
      assert.match(answer.body?.message ?? '', /client certificate from the cluster CA is required/, who);
    }
    const bad = await callback(cluster, { ...change, state: 'up' });
    assert.equal(bad.status, 400);
    assert.match(bad.body?.message ?? '', /^state: /);
    assert.equal((await callback(cluster, change)).status, 202);
    await logged(orchestrator.proc.output, 'each refusal', (l) => l['msg'] === 'readiness callback refused', 3);
    // Clients are asked for a certificate but need none: the API still answers with an API key alone.
    const listed = await jsonRequest<PoolList>(`${orchestrator.url}/v2/pools`, {
      dispatcher: anonymous,
      headers: auth,
    });
    assert.equal(listed.status, 200);
  });

  test('pool-managerd refuses callback URLs orchestratord could never accept, naming the variable', async () => {
    const refused = async (env: NodeJS.ProcessEnv, message: RegExp): Promise<void> => {
      const proc = startProcess(process.execPath, [POOL_MANAGERD_CLI], { ...process.env, ...env });
      assert.equal(await proc.exited, 2, proc.output());
      assert.match(proc.output(), message);
    };
    await refused(
      { POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: 'orchestratord:8080' },
      /POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL\[0\]: each entry must be the http\(s\) URL of an orchestratord/,
    );
    await refused(
      { POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: 'http://127.0.0.1:8080/callbacks/pool-ready,http://10.0.0.7:8080/x' },
      /POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: http:\/\/10\.0\.0\.7:8080\/x: plain http only to loopback/,
    );
    await refused(
      { POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: 'https://orchestratord:8080/callbacks/pool-ready' },
      /POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: .*set POOL_MANAGERD_TLS_CERT and POOL_MANAGERD_TLS_KEY/,
    );
  });
});
