import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { createCa, issueCertificate, mtlsAgent, readPem } from '../src/index.ts';

async function writePair(
  dir: string,
  name: string,
  pair: { cert: string; key: string },
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await writeFile(certFile, pair.cert);
  await writeFile(keyFile, pair.key, { mode: 0o600 });
  return { certFile, keyFile };
}

describe('mutual TLS material', () => {
  test('a server with the cluster CA accepts its client certificate and refuses none or another CA', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-tls-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const ca = await createCa('test CA');
    const other = await createCa('other CA');
    const caFile = join(dir, 'ca.crt');
    await writeFile(caFile, ca.cert);
    const server = await writePair(
      dir,
      'server',
      await issueCertificate(ca, { commonName: 'node-a', usage: 'server' }),
    );
    const client = await writePair(
      dir,
      'client',
      await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' }),
    );
    const stranger = await writePair(
      dir,
      'stranger',
      await issueCertificate(other, { commonName: 'mallory', usage: 'client' }),
    );

    const https = createServer(
      { ...(await readPem({ ...server, caFile })), requestCert: true, rejectUnauthorized: true },
      (_req, res) => res.end('ok'),
    );
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => https.close(() => resolve())));
    const url = `https://127.0.0.1:${(https.address() as { port: number }).port}/`;

    const good = await mtlsAgent({ ...client, caFile });
    const answer = await request(url, { dispatcher: good });
    assert.equal(answer.statusCode, 200);
    assert.equal(await answer.body.text(), 'ok');
    await good.close();

    const anonymous = new Agent({ connect: { ca: ca.cert } });
    await assert.rejects(request(url, { dispatcher: anonymous }));
    await anonymous.close();

    const foreign = await mtlsAgent({ ...stranger, caFile });
    await assert.rejects(request(url, { dispatcher: foreign }));
    await foreign.close();
  });
});
