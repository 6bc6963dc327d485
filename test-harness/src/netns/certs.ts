/**
 * The cluster's private CA and the certificates it issues, as files in `caDir`: ca.crt/ca.key, one server
 * certificate per node (its IP, the DNS name of the pools and <node>.<name>), one client certificate for every
 * orchestratord replica.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, issueCertificate, type CertificateAuthority } from '@llama-orch/tls';

/** The name whose A records list the nodes (DNS discovery); every node certificate names it. */
export const POOLS_DNS_NAME = 'pools.test';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export class ClusterCa {
  readonly dir: string;
  readonly caFile: string;
  private readonly ca: CertificateAuthority;

  private constructor(dir: string, ca: CertificateAuthority, caFile: string) {
    this.dir = dir;
    this.ca = ca;
    this.caFile = caFile;
  }

  static async create(dir: string): Promise<ClusterCa> {
    const ca = await createCa('llama-orch test cluster CA');
    await writeFile(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
    const caFile = join(dir, 'ca.crt');
    await writeFile(caFile, ca.cert, { mode: 0o600 });
    return new ClusterCa(dir, ca, caFile);
  }

  private async write(name: string, pair: { cert: string; key: string }): Promise<TlsFiles> {
    const cert = join(this.dir, `${name}.crt`);
    const key = join(this.dir, `${name}.key`);
    await writeFile(cert, pair.cert, { mode: 0o600 });
    await writeFile(key, pair.key, { mode: 0o600 });
    return { cert, key, ca: this.caFile };
  }

  /** The server certificate of a node: `<name>.crt` / `<name>.key`. */
  async server(nodeId: string, ip: string): Promise<TlsFiles> {
    const pair = await issueCertificate(this.ca, {
      commonName: nodeId,
      hosts: [ip, POOLS_DNS_NAME, `${nodeId}.${POOLS_DNS_NAME}`],
      usage: 'server',
    });
    return this.write(`node-${nodeId}`, pair);
  }

  /** The client certificate orchestratord presents to every node. */
  async client(name: string): Promise<TlsFiles> {
    return this.write(name, await issueCertificate(this.ca, { commonName: name, usage: 'client' }));
  }
}
