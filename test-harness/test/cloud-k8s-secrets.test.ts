import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, createServer } from 'node:tls';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { k8sSettings, OVERLAYS, REPO_ROOT } from '../src/deploy-manifests.ts';
import { CLUSTER, meta, NS, overlay, schemaProblems, type Obj } from '../src/k8s-rendered.ts';

const run = promisify(execFile);

describe('k8s/make-secrets.sh', () => {
  let dir = '';
  let docs: Obj[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8s-secrets-'));
    await run('bash', [join(REPO_ROOT, 'k8s/make-secrets.sh'), '--dir', dir], { cwd: REPO_ROOT });
    docs = parseAllDocuments(await readFile(join(dir, 'secrets.yaml'), 'utf8'))
      .map((d) => d.toJS() as Obj)
      .filter((d) => d !== null);
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const files = (secret: string): Record<string, Buffer> => {
    const doc = docs.find((d) => meta(d)['name'] === secret);
    assert.ok(doc !== undefined, `Secret ${secret} is written`);
    return Object.fromEntries(
      Object.entries(doc['data'] as Obj).map(([k, v]) => [k, Buffer.from(String(v), 'base64')]),
    );
  };

  test('writes valid Secrets holding every file the manifests mount and the variables name', async () => {
    for (const doc of docs) {
      assert.equal(doc['kind'], 'Secret');
      assert.equal(meta(doc)['namespace'], NS);
      assert.deepEqual(schemaProblems(doc), [], String(meta(doc)['name']));
    }
    for (const name of OVERLAYS) {
      const settings = k8sSettings(await overlay(name), name);
      let checked = 0;
      for (const s of settings)
        for (const [variable, value] of Object.entries(s.env)) {
          const mount = s.mounts.find((m) => value.startsWith(`${m.path}/`));
          if (mount?.source.kind !== 'secret') continue;
          const file = value.slice(mount.path.length + 1);
          assert.ok(
            files(mount.source.name)[file] !== undefined,
            `${s.where} ${variable}: ${mount.source.name} has ${file}`,
          );
          checked += 1;
        }
      assert.ok(checked >= 7, `${name}: the TLS and keys variables of both daemons were checked (${checked})`);
    }
    const keys = files('orchestratord-api-keys')['api-keys']?.toString() ?? '';
    const entries = keys.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    assert.deepEqual(
      entries.map((l) => l.split(' ')[1]),
      ['client', 'admin'],
    );
    assert.ok(
      entries.every((l) => (l.split(' ')[0] ?? '').length >= 16),
      'keys of 16 characters or more',
    );
    assert.equal(files('pool-managerd-tls')['orchestratord.key'], undefined, "a node never holds orchestratord's key");
    assert.equal(files('orchestratord-tls')['pool-managerd.key'], undefined, "orchestratord never holds a node's key");
    assert.ok(
      docs.every((d) => !Object.keys(d['data'] as Obj).includes('ca.key')),
      'the CA key stays out of the cluster',
    );
  });

  test('certificates chain to its CA; pool-managerd names the headless Service and every pod behind it, orchestratord its Service', async (t) => {
    const node = files('pool-managerd-tls');
    const orchd = files('orchestratord-tls');
    const ca = new X509Certificate(node['ca.crt'] ?? '');
    assert.deepEqual(node['ca.crt'], orchd['ca.crt'], 'one CA');
    const nodeCert = new X509Certificate(node['pool-managerd.crt'] ?? '');
    const orchdCert = new X509Certificate(orchd['orchestratord.crt'] ?? '');
    for (const cert of [nodeCert, orchdCert]) {
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), `${cert.subject} is signed by the CA`);
      assert.ok(
        cert.keyUsage?.includes('1.3.6.1.5.5.7.3.1') && cert.keyUsage.includes('1.3.6.1.5.5.7.3.2'),
        'server and client use',
      );
    }
    for (const host of [
      `pool-managerd.${CLUSTER}`,
      `pool-managerd-0.pool-managerd.${CLUSTER}`,
      `pool-managerd-9.pool-managerd.${CLUSTER}`,
    ])
      assert.ok(nodeCert.checkHost(host) !== undefined, host);
    assert.equal(nodeCert.checkHost('pool-managerd.other.svc.cluster.local'), undefined);
    assert.equal(orchdCert.checkHost(`orchestratord.${CLUSTER}`), `orchestratord.${CLUSTER}`, 'the callback URL host');

    // A real handshake: orchestratord's client certificate to a node found as pool-managerd-1 under the SRV name.
    const server = createServer(
      {
        cert: node['pool-managerd.crt'],
        key: node['pool-managerd.key'],
        ca: node['ca.crt'],
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.end('ok'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        servername: `pool-managerd-1.pool-managerd.${CLUSTER}`,
        ca: orchd['ca.crt'],
        cert: orchd['orchestratord.crt'],
        key: orchd['orchestratord.key'],
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.equal(answer, 'ok');
  });

  test('a second run keeps the CA, the certificates and the keys', async () => {
    const first = await readFile(join(dir, 'secrets.yaml'), 'utf8');
    await run('bash', [join(REPO_ROOT, 'k8s/make-secrets.sh'), '--dir', dir], { cwd: REPO_ROOT });
    assert.equal(await readFile(join(dir, 'secrets.yaml'), 'utf8'), first);
  });
});
