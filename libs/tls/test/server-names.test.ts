/**
 * A node found through DNS is reached at its address, its certificate checked against the DNS name it was found
 * under (CLOUD-7009): agents with `serverName`, and wildcard certificates for a Service's pods.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import { describe, test, type TestContext } from 'node:test';
import { request, type Dispatcher } from 'undici';
import {
  checkMaterial,
  clientAgent,
  createCa,
  hostProblem,
  issueCertificate,
  RotatingAgent,
  type CertificateAuthority,
  type PemPair,
  type ServerNameOf,
  type TlsMaterial,
  type TlsMaterialSource,
} from '../src/index.ts';

const SERVICE = 'pool-managerd.llama-orch.svc.cluster.local';
const POD = `pool-managerd-0.${SERVICE}`;
const WILDCARD = `*.${SERVICE}`;

/** What Node's TLS client says of a certificate for a host name: undefined when it matches, else the error. */
const identity = (host: string, pem: string): Error | undefined =>
  checkServerIdentity(host, new X509Certificate(pem).toLegacyObject());

function valid(pair: PemPair, ca: CertificateAuthority): TlsMaterial {
  const check = checkMaterial({ ...pair, ca: ca.cert });
  assert.equal(check.kind, 'valid');
  return check.material;
}

/** An mTLS server on `host` with a certificate for `names` only (no loopback); it answers with the SNI it was sent. */
async function namedServer(
  t: TestContext,
  ca: CertificateAuthority,
  names: readonly string[],
  host = '127.0.0.1',
): Promise<string> {
  const pair = await issueCertificate(ca, {
    commonName: 'pool-managerd',
    hosts: names,
    loopback: false,
    usage: 'server',
  });
  const https = createServer({ ...pair, ca: ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const socket = req.socket as TLSSocket;
    res.end(`${String(socket.servername)} ${String(socket.getPeerCertificate().subject.CN)}`);
  });
  await new Promise<void>((resolve) => https.listen(0, host, resolve));
  t.after(() => new Promise<void>((resolve) => https.close(() => resolve())));
  const port = (https.address() as AddressInfo).port;
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

async function get(url: string, dispatcher: Dispatcher): Promise<string> {
  const answer = await request(url, { dispatcher });
  return answer.body.text();
}

/** The code (and message) a TLS failure of a request is thrown with. */
async function refusal(url: string, dispatcher: Dispatcher): Promise<{ code: string; message: string }> {
  try {
    await request(url, { dispatcher });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    return { code: code ?? '', message };
  }
  throw new Error(`${url} answered`);
}

const only =
  (origin: string, name: string): ServerNameOf =>
  (asked) =>
    asked === origin ? name : undefined;

describe('certificates checked against the DNS name a node was found under', () => {
  test('a wildcard certificate for *.<service> covers each pod name one label below it, not the service name nor deeper ones', async () => {
    const ca = await createCa('test CA');
    const { cert } = await issueCertificate(ca, {
      commonName: 'pool-managerd',
      hosts: [WILDCARD],
      loopback: false,
      usage: 'server',
    });
    assert.match(
      new X509Certificate(cert).subjectAltName ?? '',
      /^DNS:\*\.pool-managerd\.llama-orch\.svc\.cluster\.local$/,
    );
    assert.equal(identity(POD, cert), undefined);
    assert.equal(identity(`pool-managerd-17.${SERVICE}`, cert), undefined);
    assert.ok(identity(SERVICE, cert) instanceof Error, 'the wildcard does not cover the service name itself');
    assert.ok(identity(`a.${POD}`, cert) instanceof Error, 'nor two labels below');
    assert.ok(identity('127.0.0.1', cert) instanceof Error, 'loopback left out');
  });

  test('a * anywhere but as the whole leftmost label, or over a single label, is refused with the reason', async () => {
    const ca = await createCa('test CA');
    const refused: [string, RegExp][] = [
      [`pool-*.${SERVICE}`, /whole leftmost label/],
      [`a.*.${SERVICE}`, /whole leftmost label/],
      [`*.*.${SERVICE}`, /only the leftmost label/],
      ['*', /whole leftmost label/],
      ['*.local', /at least two labels/],
      [`*..${SERVICE}`, /empty label/],
      ['pool managerd.example', /not letters, digits/],
    ];
    for (const [host, reason] of refused) {
      assert.match(hostProblem(host) ?? 'accepted', reason, host);
      await assert.rejects(
        issueCertificate(ca, { commonName: 'n', hosts: [host], usage: 'server' }),
        (error: unknown) =>
          error instanceof RangeError && error.message.includes(`"${host}"`) && reason.test(error.message),
        host,
      );
    }
    for (const host of [WILDCARD, SERVICE, `${SERVICE}.`, '10.1.2.3', 'fd00::7', 'pool_managerd_1'])
      assert.equal(hostProblem(host), null, host);
  });

  test('an agent reaches the address, sends the name given for that origin as SNI and checks the certificate against it', async (t) => {
    const ca = await createCa('test CA');
    const url = await namedServer(t, ca, [SERVICE]);
    const client = valid(await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' }), ca);

    const named = clientAgent(client, { serverName: only(url, SERVICE) });
    t.after(() => named.close());
    assert.equal(await get(url, named), `${SERVICE} orchestratord`);

    // Without the name the address is checked, which the certificate does not carry.
    const plain = clientAgent(client);
    t.after(() => plain.close());
    const byAddress = await refusal(url, plain);
    assert.equal(byAddress.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.match(byAddress.message, /IP: 127\.0\.0\.1 is not in the cert's list/);

    // Another name is refused, and the error names it.
    const other = clientAgent(client, { serverName: only(url, 'pool-managerd.other.svc.cluster.local') });
    t.after(() => other.close());
    const wrongName = await refusal(url, other);
    assert.equal(wrongName.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.match(wrongName.message, /Host: pool-managerd\.other\.svc\.cluster\.local\. is not in the cert's altnames/);
  });

  test('the CA check stays: the right name from another CA is refused', async (t) => {
    const ca = await createCa('test CA');
    const stranger = await createCa('other CA');
    const url = await namedServer(t, stranger, [SERVICE]);
    // The stranger's server accepts our client certificate (its CA too), so only our check of its certificate fails.
    const material = valid(
      await issueCertificate(stranger, { commonName: 'orchestratord', usage: 'client' }),
      stranger,
    );
    const agent = clientAgent({ ...material, ca: ca.cert }, { serverName: only(url, SERVICE) });
    t.after(() => agent.close());
    const refused = await refusal(url, agent);
    assert.notEqual(refused.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.match(refused.code, /SIGNATURE|ISSUER|UNABLE_TO_VERIFY|SELF_SIGNED/);
  });

  test('a pod name under a wildcard certificate, at an IPv6 address', async (t) => {
    const ca = await createCa('test CA');
    const url = await namedServer(t, ca, [WILDCARD], '::1');
    const client = valid(await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' }), ca);
    const agent = clientAgent(client, { serverName: only(url, POD) });
    t.after(() => agent.close());
    assert.equal(await get(url, agent), `${POD} orchestratord`);
  });

  test('a rotating agent keeps checking the name after its client certificate changed', async (t) => {
    const ca = await createCa('test CA');
    const url = await namedServer(t, ca, [SERVICE]);
    const first = valid(await issueCertificate(ca, { commonName: 'client-1', usage: 'client' }), ca);
    const second = valid(await issueCertificate(ca, { commonName: 'client-2', usage: 'client' }), ca);
    const listeners = new Set<(material: TlsMaterial) => void>();
    const source: TlsMaterialSource = {
      material: first,
      onChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const agents = new RotatingAgent(source, { serverName: only(url, SERVICE) });
    t.after(() => agents.close());
    assert.equal(await get(url, agents.current), `${SERVICE} client-1`);
    for (const listener of listeners) listener(second);
    assert.equal(await get(url, agents.current), `${SERVICE} client-2`);
  });
});
