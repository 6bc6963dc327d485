import { createHash, timingSafeEqual } from 'node:crypto';
import type { Identity, Role } from './identity.ts';

/** A configured API key and the role it grants (`client` unless the entry names `admin`). */
export interface KeyEntry {
  readonly key: string;
  readonly role: Role;
}

export type KeyParse =
  { readonly ok: true; readonly entry: KeyEntry } | { readonly ok: false; readonly message: string };

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/** A key's fingerprint for logs: never the key itself. */
export const fingerprint = (key: string): string => digest(key).toString('hex').slice(0, 6);

/**
 * One entry: `<key>` or `<key> <role>` (whitespace between). Messages never repeat the entry, which holds a secret.
 */
export function parseKeyEntry(text: string): KeyParse {
  const [key = '', role, ...rest] = text.trim().split(/\s+/);
  if (key.length < 16) return { ok: false, message: 'each API key needs at least 16 characters' };
  if (rest.length > 0 || (role !== undefined && role !== 'client' && role !== 'admin'))
    return { ok: false, message: 'an entry is "<key>" or "<key> <role>", the role client or admin' };
  return { ok: true, entry: { key, role: role ?? 'client' } };
}

/**
 * A keys file: one entry per line; blank lines and lines starting with `#` are skipped. The first bad line refuses
 * the whole file (by its number, not its text).
 */
export function parseKeysFile(
  text: string,
): { readonly ok: true; readonly entries: readonly KeyEntry[] } | { readonly ok: false; readonly message: string } {
  const entries: KeyEntry[] = [];
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const parsed = parseKeyEntry(trimmed);
    if (!parsed.ok) return { ok: false, message: `line ${index + 1}: ${parsed.message}` };
    entries.push(parsed.entry);
  }
  return { ok: true, entries };
}

/** The entry whose key was presented, compared in constant time against every entry (digests of equal length). */
export function findKey(presented: string, entries: readonly KeyEntry[]): KeyEntry | null {
  const given = digest(presented);
  let found: KeyEntry | null = null;
  for (const entry of entries) if (timingSafeEqual(given, digest(entry.key)) && found === null) found = entry;
  return found;
}

/** Compare against every configured key in constant time. */
export function matchesKey(presented: string, keys: readonly string[]): boolean {
  return (
    findKey(
      presented,
      keys.map((key) => ({ key, role: 'client' })),
    ) !== null
  );
}

/** `Authorization: Bearer <credential>` or `X-API-Key: <key>`. */
export function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | null {
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  return bearer ?? (apiKey !== undefined && apiKey !== '' ? apiKey : null);
}

/** The identity a key stands for: tasks are kept under its digest, logs name its short fingerprint. */
export function keyIdentity(entry: KeyEntry): Identity {
  const hex = digest(entry.key).toString('hex');
  return { owner: `key:${hex.slice(0, 32)}`, role: entry.role, label: `key:${hex.slice(0, 6)}` };
}
