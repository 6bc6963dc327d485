import type { Logger } from 'pino';
import { FILE_CHECK_MS, WatchedFile } from '../../watched-file.ts';
import { parseKeysFile, type KeyEntry } from './api-keys.ts';

/** The periodic re-read behind the directory watch (a watch can miss a swap on some file systems). */
export const KEYS_FILE_CHECK_MS = FILE_CHECK_MS;

/**
 * API keys from a file (ORCHD_API_KEYS_FILE: a mounted Kubernetes Secret), re-read when it changes (WatchedFile). A
 * file that does not parse, or that cannot be read, leaves the keys in use as they were and is logged by line
 * number, never by content.
 */
export class KeysFile extends WatchedFile<readonly KeyEntry[]> {
  constructor(path: string, log: Logger, checkMs = KEYS_FILE_CHECK_MS) {
    super({
      path,
      variable: 'ORCHD_API_KEYS_FILE',
      what: 'API keys file',
      parse: (text) => {
        const parsed = parseKeysFile(text);
        return parsed.ok ? { ok: true, value: Object.freeze([...parsed.entries]) } : parsed;
      },
      describe: (entries) => ({ keys: entries.length, admins: entries.filter((e) => e.role === 'admin').length }),
      log,
      checkMs,
    });
  }

  /** The keys in use now. */
  get entries(): readonly KeyEntry[] {
    return this.value;
  }
}
