import { readFile } from 'node:fs/promises';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { Agent } from 'undici';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** With a CA, peers must present a certificate it issued (mutual TLS). */
  readonly caFile?: string | undefined;
}

async function material(files: TlsFiles): Promise<SecureContextOptions> {
  const [cert, key, ca] = await Promise.all([
    readFile(files.certFile, 'utf8'),
    readFile(files.keyFile, 'utf8'),
    files.caFile === undefined ? Promise.resolve(undefined) : readFile(files.caFile, 'utf8'),
  ]);
  return { cert, key, ...(ca === undefined ? {} : { ca }) };
}

/** HTTPS server options; with a CA every client must present a certificate from it. */
export async function serverTlsOptions(files: TlsFiles): Promise<TlsOptions> {
  const base = await material(files);
  const mutual = files.caFile !== undefined;
  return { ...base, minVersion: 'TLSv1.2', requestCert: mutual, rejectUnauthorized: mutual };
}

/** An undici Agent that presents our client certificate and trusts only the cluster CA. */
export async function mtlsAgent(files: TlsFiles, options: { keepAliveTimeout?: number } = {}): Promise<Agent> {
  const base = await material(files);
  return new Agent({
    connect: { ...base, minVersion: 'TLSv1.2', rejectUnauthorized: true },
    keepAliveTimeout: options.keepAliveTimeout ?? 4_000,
  });
}
