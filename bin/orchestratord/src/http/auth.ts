import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/** A key's fingerprint for logs: never the key itself. */
export const fingerprint = (key: string): string => digest(key).toString('hex').slice(0, 6);

/** Compare against every configured key in constant time (digests of equal length). */
export function matchesKey(presented: string, keys: readonly string[]): boolean {
  const given = digest(presented);
  let match = false;
  for (const key of keys) match = timingSafeEqual(given, digest(key)) || match;
  return match;
}

/** `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | null {
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  return bearer ?? (apiKey !== undefined && apiKey !== '' ? apiKey : null);
}
