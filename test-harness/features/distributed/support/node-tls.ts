/**
 * Mutual-TLS probes of a node from the test, for the CLOUD step files: client certificates from the cluster CA or
 * another, refusals at a node's TLS port, and the certificate files it watches. Registers no steps.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { issueCertificate, loadCa, type PemPair } from '@llama-orch/tls';
import type { NetNode } from '../../../src/netns/index.ts';
import type { ClusterWorld } from './world.ts';
import { ANSWER_MS, HANDSHAKE_MS, area, clusterOf } from './cloud-helpers.ts';

/** A client certificate from the cluster's own CA (cluster.caDir holds ca.crt and ca.key), made once per scenario. */
export async function clusterClient(world: ClusterWorld): Promise<PemPair & { ca: string }> {
  const state = area(world);
  if (state.client) return state.client;
  const dir = clusterOf(world).caDir;
  const ca = await loadCa({
    cert: await readFile(join(dir, 'ca.crt'), 'utf8'),
    key: await readFile(join(dir, 'ca.key'), 'utf8'),
  });
  const pair = await issueCertificate(ca, { commonName: 'bdd-probe', usage: 'client' });
  state.client = { ...pair, ca: ca.cert };
  return state.client;
}

/** GET a node path through an undici Agent with these TLS options: its status, or the error that refused it. */
export async function nodeGet(
  url: string,
  tls: { ca: string; cert?: string; key?: string },
): Promise<{ status: number; body: string } | { error: Error & { code?: string } }> {
  const agent = new Agent({ connect: { ...tls, rejectUnauthorized: true, timeout: HANDSHAKE_MS } });
  try {
    const answer = await request(url, { dispatcher: agent, signal: AbortSignal.timeout(ANSWER_MS) });
    return { status: answer.statusCode, body: await answer.body.text() };
  } catch (error) {
    return { error: error as Error & { code?: string } };
  } finally {
    await agent.close();
  }
}

/** The refusal must come from the node's TLS layer, not from a network that does not reach it or a bad server cert. */
export function assertRefusedByNode(outcome: Awaited<ReturnType<typeof nodeGet>>, who: string): void {
  assert.ok('error' in outcome, `${who}: the node answered HTTP ${'status' in outcome ? outcome.status : ''}`);
  const { error } = outcome;
  const described = `${error.code ?? ''} ${error.message} ${String((error.cause as Error | undefined)?.message ?? '')}`;
  assert.doesNotMatch(
    described,
    /ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|CONNECT_TIMEOUT|UNABLE_TO_VERIFY|SELF_SIGNED|ALTNAME|TimeoutError/,
    `${who}: refused for another reason than its certificate: ${described}`,
  );
}

/** Open a new TLS connection to a node with a cluster client certificate: the serial of the certificate it serves. */
export function servedSerial(node: NetNode, client: PemPair & { ca: string }): Promise<string> {
  const { hostname, port } = new URL(node.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ...client }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.setTimeout(HANDSHAKE_MS, () =>
      socket.destroy(new Error(`no TLS handshake with ${node.url} within ${HANDSHAKE_MS} ms`)),
    );
    socket.once('error', reject);
  });
}

/** The certificate and key files a pool-managerd watches, from its "TLS material loaded" log line. */
export function tlsFilesOf(node: NetNode): { cert: string; key: string } {
  const line = node
    .logs()
    .split('\n')
    .find((l) => l.includes('TLS material loaded'));
  assert.ok(line, `pool-managerd of ${node.id} logged no TLS material:\n${node.logs().slice(-2000)}`);
  const files = ((JSON.parse(line) as { files?: string }).files ?? '').split(', ');
  const [cert, key] = files;
  assert.ok(cert && key, `pool-managerd of ${node.id} names its TLS files: ${line}`);
  return { cert, key };
}

/** The names a certificate is valid for (its SAN), as issueCertificate takes them. */
export function hostsOf(pem: string): string[] {
  return (new X509Certificate(pem).subjectAltName ?? '')
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .filter((host) => host !== '');
}

export async function replaceAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.next`, text, { mode: 0o600 });
  await rename(`${file}.next`, file);
}
