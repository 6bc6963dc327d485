import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { createCa, issueCertificate, type PemPair } from '@llama-orch/tls';
import type { PoolList } from '@llama-orch/contracts';
import { logged, type LogLine } from '../src/daemon-logs.ts';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize } from '../src/sse.ts';

const KEY = 'sk-llorch-rotation-key-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };
/** Each rotation (or refusal) is expected within this budget: a file event and a 100 ms settle, or the 5 s check. */
const ROTATION_BUDGET_MS = 10_000;

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

/** A Kubernetes Secret volume: each file a symlink through `..data`, which an update swaps atomically (as kubelet). */
async function secretVolume(dir: string, files: Record<string, string>) {
  await mkdir(dir);
  let generation = 0;
  const publish = async (next: Record<string, string>): Promise<void> => {
    generation += 1;
    await mkdir(join(dir, `..gen_${generation}`));
    for (const [name, text] of Object.entries(next)) await writeFile(join(dir, `..gen_${generation}`, name), text);
    await symlink(`..gen_${generation}`, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    if (generation > 1) await rm(join(dir, `..gen_${generation - 1}`), { recursive: true, force: true });
  };
  await publish(files);
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(dir, name));
  return { publish, file: (name: string) => join(dir, name) };
}

/** Open a new TLS connection to `url` with a cluster client certificate: the serial of the certificate it serves. */
function servedSerial(url: string, client: PemPair, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ...client, ca, servername: 'localhost' }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no TLS handshake with ${url} within 5 s`)));
    socket.once('error', reject);
  });
}

describe('certificates that rotate in the CLOUD profile', { timeout: 45 * 60_000 }, () => {
  test("pool-managerd's node certificate rotates by a Secret swap while a stream runs through orchestratord: the stream ends, new connections see the new serial, a garbage or mismatched update is refused and the last good one keeps serving", async (t) => {
    const fixture = await testEngine();
    const dir = await mkdtemp(join(tmpdir(), 'llorch-rotation-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const ca = await createCa('cluster CA');
    const node = (name: string) => issueCertificate(ca, { commonName: name, usage: 'server' });
    const orch = (name: string) => issueCertificate(ca, { commonName: name, usage: 'client' });
    const first = await node('node-0');
    const secret = await secretVolume(join(dir, 'node-secret'), {
      'tls.crt': first.cert,
      'tls.key': first.key,
      'ca.crt': ca.cert,
    });
    // orchestratord's client certificate: plain files, rewritten in place.
    const orchFiles = { cert: join(dir, 'orch.crt'), key: join(dir, 'orch.key'), ca: join(dir, 'ca.crt') };
    const orchFirst = await orch('orchestratord');
    await writeFile(orchFiles.cert, orchFirst.cert);
    await writeFile(orchFiles.key, orchFirst.key, { mode: 0o600 });
    await writeFile(orchFiles.ca, ca.cert);
    const probe = await orch('probe');
    await writeFile(
      join(dir, 'node.yaml'),
      `runtime_dir: ${dir}/run\ncache_dir: ${fixture.cacheDir}\nengine: { device: cpu }\npools: [{ id: demo, model: demo, ctx: 65536, slots: 2 }]\n`,
    );
    const pm = await startPoolManagerd({
      LLORCH_CONFIG: join(dir, 'node.yaml'),
      POOL_MANAGERD_PROFILE: 'cloud',
      POOL_MANAGERD_TLS_CERT: secret.file('tls.crt'),
      POOL_MANAGERD_TLS_KEY: secret.file('tls.key'),
      POOL_MANAGERD_TLS_CA: secret.file('ca.crt'),
    });
    t.after(pm.stop);
    const orchestrator = await startOrchestratord({
      ORCHD_PROFILE: 'cloud',
      ORCHD_POOL_MANAGERS: pm.url,
      ORCHD_TLS_CERT: orchFiles.cert,
      ORCHD_TLS_KEY: orchFiles.key,
      ORCHD_TLS_CA: orchFiles.ca,
      ORCHD_API_KEYS: KEY,
    });
    t.after(orchestrator.stop);
    await waitFor(
      'the pool ready in orchestratord over mTLS',
      async () =>
        (await jsonRequest<PoolList>(`${orchestrator.url}/v2/pools`, { headers: AUTH })).body.pools[0]?.ready
          ? true
          : undefined,
      120_000,
    );
    const served = () => servedSerial(pm.url, probe, ca.cert);
    assert.equal(await served(), serialOf(first.cert));

    const run = async (taskId: string, maxTokens: number) => {
      const admitted = await jsonRequest(`${orchestrator.url}/v2/tasks`, {
        method: 'POST',
        headers: AUTH,
        body: { task_id: taskId, model_ref: 'demo', prompt: 'Go on:', max_tokens: maxTokens, ignore_eos: true },
      });
      assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
    };

    // A stream through orchestratord → pool-managerd longer than any rotation may take (at the engine's fastest, about
    // 20 s); both sides' certificates rotate once it has tokens, and it is canceled once it has gone on past them.
    await run('long', 30_000);
    let firstToken: () => void = () => undefined;
    const streaming = new Promise<void>((resolve) => (firstToken = resolve));
    let ended = false;
    let tokens = 0;
    let onToken: () => void = () => undefined;
    const long = followEvents(`${orchestrator.url}/v2/tasks/long/events`, {
      headers: AUTH,
      timeoutMs: 180_000,
      onEvent: (event) => {
        if (event.event === 'token') {
          tokens += 1;
          firstToken();
          onToken();
        }
        if (event.event === 'end' || event.event === 'error') ended = true;
      },
    });
    await streaming;
    const second = await node('node-0');
    await secret.publish({ 'tls.crt': second.cert, 'tls.key': second.key, 'ca.crt': ca.cert });
    const orchSecond = await orch('orchestratord');
    await writeFile(orchFiles.key, orchSecond.key);
    await writeFile(orchFiles.cert, orchSecond.cert);

    await waitFor(
      'a new connection to pool-managerd to see the new certificate',
      async () => ((await served()) === serialOf(second.cert) ? true : undefined),
      ROTATION_BUDGET_MS,
    );
    assert.equal(ended, false, 'the rotation took effect while the stream was still running');
    const anonymous = new Agent({ connect: { ca: ca.cert } });
    t.after(() => anonymous.close());
    await assert.rejects(request(`${pm.url}/health`, { dispatcher: anonymous }), 'still mutual TLS after the rotation');
    await logged(
      orchestrator.proc.output,
      "orchestratord's new client certificate",
      (l) =>
        l['msg'] === 'orchestratord → pool-managerd TLS material rotated; new connections use it' &&
        l['serial_number'] === serialOf(orchSecond.cert),
      1,
      ROTATION_BUDGET_MS,
    );
    // The stream in flight goes on over its old connection, then ends as a cancel ends it.
    const tokensAtRotation = tokens;
    await new Promise<void>((resolve) => {
      onToken = () => {
        if (tokens >= tokensAtRotation + 100) resolve();
      };
      onToken();
    });
    const cancel = await jsonRequest(`${orchestrator.url}/v2/tasks/long/cancel`, { method: 'POST', headers: AUTH });
    assert.equal(cancel.status, 204);
    const { events } = await long;
    const last = events.at(-1);
    assert.equal(last?.event, 'end', `the stream in flight went on and ended at the cancel: ${summarize(events)}`);
    assert.equal(events.filter((e) => e.event === 'error').length, 0, summarize(events));
    assert.ok(Number(last.data['tokens_out']) >= tokensAtRotation + 100, JSON.stringify(last.data));

    // New dispatches: orchestratord's new agent (new client certificate) to pool-managerd's new certificate.
    const short = async (taskId: string): Promise<void> => {
      await run(taskId, 8);
      const done = await followEvents(`${orchestrator.url}/v2/tasks/${taskId}/events`, { headers: AUTH });
      assert.equal(done.events.at(-1)?.event, 'end', `${taskId}: ${summarize(done.events)}`);
    };
    await short('after-rotation');

    // A garbage certificate, then a certificate with a key that is not its own: refused, the last good one serves.
    const refused = (l: LogLine): boolean =>
      l['level'] === 50 && /pool-managerd TLS material refused/.test(String(l['msg']));
    await secret.publish({ 'tls.crt': 'garbage', 'tls.key': second.key, 'ca.crt': ca.cert });
    const [garbage = {}] = await logged(pm.proc.output, 'the garbage refused', refused, 1, ROTATION_BUDGET_MS);
    assert.match(String(garbage['reason']), /^certificate: does not parse/);
    assert.equal(garbage['in_use'], serialOf(second.cert));
    assert.equal(await served(), serialOf(second.cert));
    await short('after-garbage');

    const third = await node('node-0');
    await secret.publish({ 'tls.crt': third.cert, 'tls.key': second.key, 'ca.crt': ca.cert });
    const [, mismatched = {}] = await logged(pm.proc.output, 'the mismatch refused', refused, 2, ROTATION_BUDGET_MS);
    assert.match(String(mismatched['reason']), /^key: does not belong to the certificate/);
    assert.equal(await served(), serialOf(second.cert));
    await short('after-mismatch');
  });
});
