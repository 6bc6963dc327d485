/** What a caller may do: `client` submits and reaches its own tasks and sessions; `admin` also controls pools. */
export type Role = 'client' | 'admin';

export const ROLES: readonly Role[] = ['client', 'admin'];

/**
 * Who is calling. `owner` is what tasks and sessions are kept under (a key's digest, an OIDC subject); `label` is
 * what logs say (a key's short fingerprint, the token's `sub`) — never the credential itself.
 */
export interface Identity {
  readonly owner: string;
  readonly role: Role;
  readonly label: string;
}

/** No authentication configured (HOME on loopback): one caller who may do everything, as before. */
export const ANONYMOUS: Identity = Object.freeze({ owner: 'anonymous', role: 'admin', label: 'anonymous' });

/** Something owned by `owner` is reachable by its owner and by admins; anything else answers 404, not 403. */
export function mayAccess(identity: Identity, owner: string | undefined): boolean {
  return identity.role === 'admin' || (owner !== undefined && owner === identity.owner);
}
