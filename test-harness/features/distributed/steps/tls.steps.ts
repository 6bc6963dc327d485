/**
 * Steps of tls.feature: certificates refused or rotated at a node's TLS port.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Then, When } from '@cucumber/cucumber';
import { createCa, issueCertificate, loadCa } from '@llama-orch/tls';
import type { PoolStatus } from '@llama-orch/contracts';
import { waitFor } from '../../../src/processes.ts';
import { summarize } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';
import { area, clusterOf, isTerminal, markOpen, streamedOn } from '../support/cloud-helpers.ts';
import {
  clusterClient,
  nodeGet,
  assertRefusedByNode,
  servedSerial,
  tlsFilesOf,
  hostsOf,
  replaceAtomically,
} from '../support/node-tls.ts';

Then(
  "a client with a certificate from the cluster CA reads pool {string}'s status from node {string}",
  async function (this: ClusterWorld, pool: string, nodeId: string) {
    const node = clusterOf(this).node(nodeId);
    const answer = await nodeGet(`${node.url}/v2/pools/${pool}/status`, await clusterClient(this));
    assert.ok(
      'status' in answer,
      `the cluster's own client was refused: ${'error' in answer ? answer.error.message : ''}`,
    );
    assert.equal(answer.status, 200, answer.body);
    assert.equal((JSON.parse(answer.body) as PoolStatus).pool_id, pool);
  },
);

Then(
  'a client without a certificate cannot read anything from node {string}',
  async function (this: ClusterWorld, nodeId: string) {
    const node = clusterOf(this).node(nodeId);
    const { ca } = await clusterClient(this);
    const outcome = await nodeGet(`${node.url}/health`, { ca });
    assertRefusedByNode(outcome, 'a client without a certificate');
    this.attach(
      `without a certificate: ${'error' in outcome ? `${outcome.error.code ?? ''} ${outcome.error.message}` : ''}`,
    );
  },
);

Then(
  'a client with a certificate from another CA cannot read anything from node {string}',
  async function (this: ClusterWorld, nodeId: string) {
    const node = clusterOf(this).node(nodeId);
    const { ca } = await clusterClient(this);
    const stranger = await issueCertificate(await createCa('another CA'), {
      commonName: 'orchestratord',
      usage: 'client',
    });
    const outcome = await nodeGet(`${node.url}/health`, { ca, ...stranger });
    assertRefusedByNode(outcome, 'a client with another CA’s certificate');
    this.attach(`another CA: ${'error' in outcome ? `${outcome.error.code ?? ''} ${outcome.error.message}` : ''}`);
  },
);

When(
  'task {string} has streamed its first token within {int} seconds',
  async function (this: ClusterWorld, id: string, seconds: number) {
    const record = this.tasks.get(id);
    assert.ok(record, `task ${id} is not followed`);
    await waitFor(
      `task ${id}'s first token`,
      () => (record.events.some((e) => e.event === 'token') ? true : undefined),
      seconds * 1000,
      20,
    );
    assert.ok(!record.events.some(isTerminal), `task ${id} ended already: ${summarize(record.events)}`);
  },
);

When(
  "node {string}'s certificate files are replaced by a new certificate from the cluster CA",
  async function (this: ClusterWorld, nodeId: string) {
    const cluster = clusterOf(this);
    const node = cluster.node(nodeId);
    const files = tlsFilesOf(node);
    const old = await readFile(files.cert, 'utf8');
    const dir = cluster.caDir;
    const ca = await loadCa({
      cert: await readFile(join(dir, 'ca.crt'), 'utf8'),
      key: await readFile(join(dir, 'ca.key'), 'utf8'),
    });
    const next = await issueCertificate(ca, { commonName: nodeId, hosts: hostsOf(old), usage: 'server' });
    // The key first, then its certificate, each by an atomic rename (a check in between refuses the pair and waits).
    await replaceAtomically(files.key, next.key);
    await replaceAtomically(files.cert, next.cert);
    area(this).rotated = { node: nodeId, serial: new X509Certificate(next.cert).serialNumber };
    assert.notEqual(new X509Certificate(old).serialNumber, area(this).rotated?.serial);
  },
);

Then(
  'new connections to node {string} are served the new certificate within {int} seconds',
  async function (this: ClusterWorld, nodeId: string, seconds: number) {
    const rotated = area(this).rotated;
    assert.ok(rotated?.node === nodeId, `node ${nodeId}'s certificate was not replaced`);
    const node = clusterOf(this).node(nodeId);
    const client = await clusterClient(this);
    await waitFor(
      `node ${nodeId} to serve the new certificate`,
      async () => ((await servedSerial(node, client)) === rotated.serial ? true : undefined),
      seconds * 1000,
    );
    markOpen(this, 'the new certificate was served');
  },
);

Then(
  'task {string} streams {int} more tokens within {int} seconds after the new certificate was served',
  async function (this: ClusterWorld, id: string, more: number, seconds: number) {
    await streamedOn(this, id, 'the new certificate was served', more, seconds * 1000);
  },
);

When(
  "node {string}'s certificate file is overwritten with text that is not a certificate",
  async function (this: ClusterWorld, nodeId: string) {
    const node = clusterOf(this).node(nodeId);
    const files = tlsFilesOf(node);
    area(this).kept = { node: nodeId, serial: new X509Certificate(await readFile(files.cert, 'utf8')).serialNumber };
    await replaceAtomically(files.cert, 'not a certificate\n');
  },
);

Then(
  'node {string} refuses the new TLS material within {int} seconds and keeps serving the certificate it had',
  async function (this: ClusterWorld, nodeId: string, seconds: number) {
    const kept = area(this).kept;
    assert.ok(kept?.node === nodeId, `node ${nodeId}'s certificate file was not overwritten`);
    const node = clusterOf(this).node(nodeId);
    const line = await waitFor(
      `node ${nodeId} to log that it refused the new TLS material`,
      () =>
        node
          .logs()
          .split('\n')
          .find((l) => l.includes('TLS material refused')),
      seconds * 1000,
    );
    this.attach(line);
    const refusal = JSON.parse(line) as { level?: number; reason?: string; in_use?: string };
    assert.equal(refusal.level, 50, 'the refusal is logged as an error');
    assert.match(String(refusal.reason), /^certificate: /, 'the reason names the certificate');
    assert.equal(refusal.in_use, kept.serial, 'the refusal names the serial still in use');
    assert.equal(await servedSerial(node, await clusterClient(this)), kept.serial, 'new connections get the old one');
  },
);
