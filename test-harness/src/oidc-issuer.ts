/**
 * A real OIDC issuer on loopback for tests: it serves its discovery document and its JSON Web Key Set over HTTP, and
 * signs tokens with keys made here (jose). Nothing is mocked: orchestratord discovers it, fetches its keys and
 * verifies what it signs like any identity provider's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

export interface TokenOptions {
  readonly subject?: string;
  readonly audience?: string;
  readonly issuer?: string;
  /** Seconds from now (negative: already expired). */
  readonly expiresIn?: number;
  /** Sign with this key instead of the issuer's current one (a stranger's key, same kid: a bad signature). */
  readonly key?: { readonly kid: string; readonly privateKey: CryptoKey };
  readonly claims?: JWTPayload;
}

export interface OidcIssuer {
  /** The issuer URL (`http://127.0.0.1:<port>`), as orchestratord's ORCHD_OIDC_ISSUER. */
  readonly issuer: string;
  /** How many times the key set was fetched. */
  readonly jwksFetches: () => number;
  /** The key tokens are signed with now. */
  readonly current: () => SigningKey;
  /** A signed token for `audience` (default `llama-orch`) and `subject` (default `alice`). */
  sign(options?: TokenOptions): Promise<string>;
  /** A new key with a new kid replaces the old one in the key set. */
  rotate(): Promise<SigningKey>;
  close(): Promise<void>;
}

let kids = 0;

/** An ES256 key pair that is not any issuer's (for bad signatures). */
export async function strangerKey(kid: string): Promise<{ kid: string; privateKey: CryptoKey }> {
  const { privateKey } = await generateKeyPair('ES256');
  return { kid, privateKey };
}

async function newKey(): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const kid = `test-key-${++kids}`;
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** Start an issuer on 127.0.0.1 (a free port); close it when done. */
export async function startOidcIssuer(): Promise<OidcIssuer> {
  let key = await newKey();
  let fetches = 0;
  let issuer = '';
  const server: Server = createServer((req, res) => {
    const send = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration')
      return send({ issuer, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: ['ES256'] });
    if (req.url === '/jwks') {
      fetches += 1;
      return send({ keys: [key.jwk] });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksFetches: () => fetches,
    current: () => key,
    async sign(options = {}) {
      const signer = options.key ?? key;
      return new SignJWT({ ...options.claims })
        .setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'JWT' })
        .setIssuer(options.issuer ?? issuer)
        .setAudience(options.audience ?? 'llama-orch')
        .setSubject(options.subject ?? 'alice')
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresIn ?? 300))
        .sign(signer.privateKey);
    },
    async rotate() {
      key = await newKey();
      return key;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An unsigned token (`alg: none`) with the given claims: no verifier may take it. */
export function unsignedToken(claims: JWTPayload): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}
