export {
  fingerprint,
  findKey,
  matchesKey,
  parseKeyEntry,
  parseKeysFile,
  presentedKey,
  type KeyEntry,
} from './api-keys.ts';
export { Authenticator, type AuthOptions, type Identification } from './authenticator.ts';
export { ANONYMOUS, mayAccess, ROLES, type Identity, type Role } from './identity.ts';
export { KeysFile, KEYS_FILE_CHECK_MS } from './keys-file.ts';
export { authenticate, refuseUnless } from './middleware.ts';
export { acceptableIssuerUrl, CLOCK_SKEW_S, OidcVerifier, roleFromClaims, type OidcOptions } from './oidc.ts';
