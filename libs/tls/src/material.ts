import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';

/** Where a daemon's TLS material lives: its certificate and key, and optionally the CA its peers must come from. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** With a CA, peers must present a certificate it issued (mutual TLS). */
  readonly caFile?: string | undefined;
}

/** PEM text as read from the files. */
export interface PemMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string | undefined;
}

/** PEM material that passed the checks, with what log lines and tests need to tell one certificate from another. */
export interface TlsMaterial extends PemMaterial {
  /** Serial number of the certificate (hex, as node:crypto and `getPeerCertificate()` print it). */
  readonly serialNumber: string;
  readonly subject: string;
  readonly validTo: string;
  /** The certificate may authenticate a TLS client (no extended key usage, or one with clientAuth). */
  readonly clientAuth: boolean;
}

export type MaterialCheck =
  { readonly kind: 'valid'; readonly material: TlsMaterial } | { readonly kind: 'refused'; readonly reason: string };

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Check PEM material before it is used: the certificate and every CA certificate parse, the key parses and belongs
 * to the certificate, and OpenSSL builds a secure context from them. A refusal says which part failed and why.
 */
export function checkMaterial(pem: PemMaterial): MaterialCheck {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem.cert);
  } catch (error) {
    return { kind: 'refused', reason: `certificate: does not parse (${reasonOf(error)})` };
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(pem.key)))
      return { kind: 'refused', reason: 'key: does not belong to the certificate' };
  } catch (error) {
    return { kind: 'refused', reason: `key: does not parse (${reasonOf(error)})` };
  }
  if (pem.ca !== undefined) {
    const blocks = pem.ca.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) return { kind: 'refused', reason: 'ca: holds no PEM certificate' };
    for (const [index, block] of blocks.entries()) {
      try {
        new X509Certificate(block);
      } catch (error) {
        return { kind: 'refused', reason: `ca: certificate ${index + 1} does not parse (${reasonOf(error)})` };
      }
    }
  }
  try {
    createSecureContext({ cert: pem.cert, key: pem.key, ...(pem.ca === undefined ? {} : { ca: pem.ca }) });
  } catch (error) {
    return { kind: 'refused', reason: `OpenSSL refuses the material (${reasonOf(error)})` };
  }
  return {
    kind: 'valid',
    material: Object.freeze({
      cert: pem.cert,
      key: pem.key,
      ca: pem.ca,
      serialNumber: certificate.serialNumber,
      subject: certificate.subject,
      validTo: certificate.validTo,
      // node:crypto names the extended key usage `keyUsage`; undefined when the certificate has none.
      clientAuth: (certificate.keyUsage as string[] | undefined)?.includes(CLIENT_AUTH_OID) ?? true,
    }),
  };
}

/** Read the files as they are now (symlinks followed, so a Kubernetes Secret's `..data` swap reads whole). */
export async function readPem(files: TlsFiles): Promise<PemMaterial> {
  const [cert, key, ca] = await Promise.all([
    readFile(files.certFile, 'utf8'),
    readFile(files.keyFile, 'utf8'),
    files.caFile === undefined ? Promise.resolve(undefined) : readFile(files.caFile, 'utf8'),
  ]);
  return { cert, key, ca };
}
