import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, test, type TestContext } from 'node:test';
import { request } from 'undici';
import {
  checkMaterial,
  createCa,
  issueCertificate,
  RotatingAgent,
  TlsMaterialRefused,
  TlsMaterialWatcher,
  type PemPair,
  type TlsMaterial,
} from '../src/index.ts';

/** Every watcher event here is expected within this budget (fs events, or the 300 ms periodic check). */
const BUDGET_MS = 5_000;

function within<T>(what: string, promise: Promise<T>, ms = BUDGET_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

interface Logged {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

function memoryLog(): { lines: Logged[]; info: Log; warn: Log; error: Log } {
  const lines: Logged[] = [];
  const at =
    (level: Logged['level']): Log =>
    (fields, message) =>
      lines.push({ level, fields, message });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
type Log = (fields: Record<string, unknown>, message: string) => void;

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;
const nextChange = (watcher: TlsMaterialWatcher): Promise<TlsMaterial> =>
  new Promise((resolve) => {
    const off = watcher.onChange((material) => {
      off();
      resolve(material);
    });
  });

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llorch-rotation-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A Kubernetes Secret volume: files are symlinks through `..data`, which an update swaps atomically. */
async function secretVolume(
  dir: string,
  files: Record<string, string>,
): Promise<(next: Record<string, string>) => Promise<void>> {
  let generation = 0;
  const publish = async (next: Record<string, string>): Promise<void> => {
    generation += 1;
    const data = `..gen_${generation}`;
    await mkdir(join(dir, data));
    for (const [name, text] of Object.entries(next)) await writeFile(join(dir, data, name), text);
    await symlink(data, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    if (generation > 1) await rm(join(dir, `..gen_${generation - 1}`), { recursive: true, force: true });
  };
  await publish(files);
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(dir, name));
  return publish;
}

describe('TLS material that rotates', () => {
  test('is checked before use: garbage, a key of another certificate and a CA file without a certificate are refused, saying which part failed', async () => {
    const ca = await createCa('test CA');
    const a = await issueCertificate(ca, { commonName: 'node-a', usage: 'server' });
    const b = await issueCertificate(ca, { commonName: 'node-b', usage: 'server' });
    const good = checkMaterial({ ...a, ca: ca.cert });
    assert.equal(good.kind, 'valid');
    assert.equal(good.kind === 'valid' ? good.material.serialNumber : '', serialOf(a.cert));
    assert.equal(good.kind === 'valid' ? good.material.subject : '', 'CN=node-a');

    const refused = (pem: Parameters<typeof checkMaterial>[0]): string => {
      const checked = checkMaterial(pem);
      assert.equal(checked.kind, 'refused');
      return checked.kind === 'refused' ? checked.reason : '';
    };
    assert.match(refused({ cert: 'not a certificate', key: a.key }), /^certificate: does not parse/);
    assert.match(refused({ cert: a.cert, key: 'not a key' }), /^key: does not parse/);
    assert.match(refused({ cert: a.cert, key: b.key }), /^key: does not belong to the certificate/);
    assert.match(refused({ ...a, ca: 'no certificate here' }), /^ca: holds no PEM certificate/);
  });

  test('a watcher takes a rewritten certificate and a Kubernetes ..data swap, and keeps the old material when the new files are garbage or mismatched', async (t) => {
    const dir = await tempDir(t);
    const ca = await createCa('test CA');
    const issue = (name: string): Promise<PemPair> => issueCertificate(ca, { commonName: name, usage: 'both' });
    const first = await issue('node-1');

    // In-place files, as `llorch certs issue` writes them.
    const files = { certFile: join(dir, 'node.crt'), keyFile: join(dir, 'node.key'), caFile: join(dir, 'ca.crt') };
    await writeFile(files.certFile, first.cert);
    await writeFile(files.keyFile, first.key);
    await writeFile(files.caFile, ca.cert);
    const log = memoryLog();
    const watcher = new TlsMaterialWatcher(files, { log, purpose: 'test', checkIntervalMs: 300 });
    await watcher.start();
    t.after(() => watcher.stop());
    assert.equal(watcher.material.serialNumber, serialOf(first.cert));

    const second = await issue('node-2');
    let changed = nextChange(watcher);
    await writeFile(files.keyFile, second.key);
    await writeFile(files.certFile, second.cert);
    assert.equal((await within('the rewritten pair', changed)).serialNumber, serialOf(second.cert));
    assert.ok(log.lines.some((l) => l.level === 'info' && l.fields['previous_serial_number'] === serialOf(first.cert)));

    await writeFile(files.certFile, 'garbage');
    const unparsable = (l: Logged): boolean => l.level === 'error' && /does not parse/.test(l.message);
    const garbage = await waitForLine('the garbage refused', log.lines, unparsable);
    assert.match(garbage.message, /test TLS material refused: certificate: does not parse/);
    assert.equal(garbage.fields['in_use'], serialOf(second.cert));
    assert.equal(watcher.material.serialNumber, serialOf(second.cert), 'the old material stays in use');
    await watcher.check();
    assert.equal(log.lines.filter(unparsable).length, 1, 'a refusal is logged once');

    const third = await issue('node-3');
    await writeFile(files.certFile, third.cert); // with the second's key: mismatched
    await waitForLine(
      'the mismatched key refused',
      log.lines,
      (l) => l.level === 'error' && /does not belong/.test(l.message),
    );
    assert.equal(watcher.material.serialNumber, serialOf(second.cert));
    changed = nextChange(watcher);
    await writeFile(files.keyFile, third.key);
    assert.equal((await within('the matching key', changed)).serialNumber, serialOf(third.cert));

    // A Kubernetes Secret volume.
    const secret = join(dir, 'secret');
    await mkdir(secret);
    const fourth = await issue('node-4');
    const publish = await secretVolume(secret, { 'tls.crt': fourth.cert, 'tls.key': fourth.key, 'ca.crt': ca.cert });
    const mounted = new TlsMaterialWatcher(
      { certFile: join(secret, 'tls.crt'), keyFile: join(secret, 'tls.key'), caFile: join(secret, 'ca.crt') },
      { log: memoryLog(), purpose: 'secret', checkIntervalMs: 60_000 },
    );
    await mounted.start();
    t.after(() => mounted.stop());
    const fifth = await issue('node-5');
    changed = nextChange(mounted);
    await publish({ 'tls.crt': fifth.cert, 'tls.key': fifth.key, 'ca.crt': ca.cert });
    assert.equal(
      (await within('the ..data swap (a file event: the periodic check is a minute away)', changed)).serialNumber,
      serialOf(fifth.cert),
    );
  });

  test('material that does not pass its checks at start-up stops the start, naming the files', async (t) => {
    const dir = await tempDir(t);
    const ca = await createCa('test CA');
    const a = await issueCertificate(ca, { commonName: 'a', usage: 'server' });
    const b = await issueCertificate(ca, { commonName: 'b', usage: 'server' });
    const certFile = join(dir, 'a.crt');
    const keyFile = join(dir, 'b.key');
    await writeFile(certFile, a.cert);
    await writeFile(keyFile, b.key);
    const watcher = new TlsMaterialWatcher({ certFile, keyFile }, { log: memoryLog(), purpose: 'pool-managerd' });
    await assert.rejects(watcher.start(), (error: unknown) => {
      assert.ok(error instanceof TlsMaterialRefused);
      assert.match(error.message, /pool-managerd TLS files \(.*a\.crt, .*b\.key\): key: does not belong/);
      return true;
    });
    const missing = new TlsMaterialWatcher(
      { certFile: join(dir, 'none.crt'), keyFile },
      { log: memoryLog(), purpose: 'pool-managerd' },
    );
    await assert.rejects(missing.start(), /ENOENT/);
  });

  test('a rotating agent sends new requests with the new client certificate while a response in flight finishes on the old one', async (t) => {
    const dir = await tempDir(t);
    const ca = await createCa('test CA');
    const server = await issueCertificate(ca, { commonName: 'server', usage: 'server' });
    const oldClient = await issueCertificate(ca, { commonName: 'client-1', usage: 'client' });
    const newClient = await issueCertificate(ca, { commonName: 'client-2', usage: 'client' });
    const files = { certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key'), caFile: join(dir, 'ca.crt') };
    await writeFile(files.certFile, oldClient.cert);
    await writeFile(files.keyFile, oldClient.key);
    await writeFile(files.caFile, ca.cert);

    // A server that names the client certificate each request came with; /slow streams until released.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const https = createServer({ ...server, ca: ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const serial = (req.socket as TLSSocket).getPeerCertificate().serialNumber;
      if (req.url === '/slow') {
        res.write(`${serial}\n`);
        void released.then(() => res.end('done'));
      } else res.end(serial);
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => https.close(() => resolve())));
    const url = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;

    const watcher = new TlsMaterialWatcher(files, { log: memoryLog(), purpose: 'client', checkIntervalMs: 300 });
    await watcher.start();
    t.after(() => watcher.stop());
    const agents = new RotatingAgent(watcher);
    t.after(() => agents.close());

    const slow = await request(`${url}/slow`, { dispatcher: agents.current });
    const chunks = slow.body[Symbol.asyncIterator]();
    const head = await chunks.next();
    assert.equal(Buffer.from(head.value as Uint8Array).toString(), `${serialOf(oldClient.cert)}\n`);

    const changed = nextChange(watcher);
    await writeFile(files.keyFile, newClient.key);
    await writeFile(files.certFile, newClient.cert);
    await within('the client rotation', changed);
    const fresh = await request(`${url}/fast`, { dispatcher: agents.current });
    assert.equal(await fresh.body.text(), serialOf(newClient.cert), 'a new request presents the new certificate');

    release();
    let rest = '';
    for (let next = await chunks.next(); next.done !== true; next = await chunks.next())
      rest += Buffer.from(next.value as Uint8Array).toString();
    assert.equal(rest, 'done', 'the response in flight finished on its old connection');
  });
});

/** The first line that `match` accepts, looked for every 20 ms within the budget. */
async function waitForLine(what: string, lines: readonly Logged[], match: (line: Logged) => boolean): Promise<Logged> {
  const deadline = Date.now() + BUDGET_MS;
  for (;;) {
    const line = lines.find(match);
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`${what}: not logged within ${BUDGET_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
