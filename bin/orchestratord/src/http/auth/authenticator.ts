import type { Logger } from 'pino';
import { findKey, fingerprint, keyIdentity, presentedKey, type KeyEntry } from './api-keys.ts';
import { ANONYMOUS, type Identity } from './identity.ts';
import { KeysFile } from './keys-file.ts';
import { OidcVerifier, type OidcOptions } from './oidc.ts';

export type Identification =
  | { readonly kind: 'identified'; readonly identity: Identity }
  | {
      readonly kind: 'refused';
      readonly message: string;
      readonly retriable: boolean;
      /** What the log says about the refusal (a fingerprint or a reason code, never the credential). */
      readonly log: Record<string, string>;
    };

export interface AuthOptions {
  /** ORCHD_API_KEYS. */
  readonly keys: readonly KeyEntry[];
  /** ORCHD_API_KEYS_FILE. */
  readonly keysFile: string | undefined;
  readonly oidc: OidcOptions | null;
}

/** Identities already announced in the log (bounded: cleared when full, so one may be announced again). */
const SEEN_LIMIT = 10_000;

/** Three dot-separated base64url parts: a JWT (verified as one only when OIDC is configured). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Who a request comes from: an API key (the environment's and the keys file's, in constant time) or an OIDC bearer
 * token. With none of them configured every caller is ANONYMOUS (HOME: open as it always was).
 */
export class Authenticator {
  readonly #keys: readonly KeyEntry[];
  readonly #file: KeysFile | null;
  readonly #oidc: OidcVerifier | null;
  readonly #log: Logger;
  readonly #seen = new Set<string>();

  private constructor(keys: readonly KeyEntry[], file: KeysFile | null, oidc: OidcVerifier | null, log: Logger) {
    this.#keys = keys;
    this.#file = file;
    this.#oidc = oidc;
    this.#log = log;
  }

  /** Read the keys file (a bad one stops the start) and look up the OIDC issuer (a failure is only logged). */
  static async start(options: AuthOptions, log: Logger): Promise<Authenticator> {
    const file = options.keysFile === undefined ? null : new KeysFile(options.keysFile, log);
    await file?.start();
    const oidc = options.oidc === null ? null : new OidcVerifier(options.oidc, log);
    await oidc?.warmUp();
    return new Authenticator(options.keys, file, oidc, log);
  }

  get enabled(): boolean {
    return this.#keys.length > 0 || this.#file !== null || this.#oidc !== null;
  }

  /** What the start-up log says about client authentication. */
  describe(): Record<string, unknown> {
    return {
      api_keys: this.#keys.length + (this.#file?.entries.length ?? 0),
      api_keys_file: this.#file !== null,
      oidc: this.#oidc !== null,
    };
  }

  stop(): void {
    this.#file?.stop();
  }

  /** The first request of each identity (and role) is logged: who uses the API, by label only. */
  #identified(identity: Identity): Identification {
    const seen = `${identity.label} ${identity.role}`;
    if (!this.#seen.has(seen)) {
      if (this.#seen.size >= SEEN_LIMIT) this.#seen.clear();
      this.#seen.add(seen);
      this.#log.info({ identity: identity.label, role: identity.role }, 'client identified');
    }
    return { kind: 'identified', identity };
  }

  async identify(authorization: string | undefined, apiKeyHeader: string | undefined): Promise<Identification> {
    if (!this.enabled) return { kind: 'identified', identity: ANONYMOUS };
    const presented = presentedKey(authorization, apiKeyHeader);
    if (presented === null)
      return {
        kind: 'refused',
        message:
          this.#oidc === null
            ? 'an API key is required (Authorization: Bearer <key> or X-API-Key)'
            : 'credentials are required (Authorization: Bearer <key or OIDC token>, or X-API-Key)',
        retriable: false,
        log: { reason: 'none presented' },
      };
    const entry = findKey(presented, [...this.#keys, ...(this.#file?.entries ?? [])]);
    if (entry !== null) return this.#identified(keyIdentity(entry));
    const bearer = authorization !== undefined && /^Bearer\s/i.test(authorization);
    if (this.#oidc !== null && bearer && JWT_SHAPE.test(presented)) {
      const check = await this.#oidc.verify(presented);
      if (check.kind === 'verified') return this.#identified(check.identity);
      return {
        kind: 'refused',
        message: `OIDC token refused: ${check.message}`,
        retriable: check.retriable,
        log: { reason: check.reason },
      };
    }
    return { kind: 'refused', message: 'unknown API key', retriable: false, log: { key_fp: fingerprint(presented) } };
  }
}
