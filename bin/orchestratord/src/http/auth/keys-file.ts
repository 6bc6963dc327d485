import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { parseKeysFile, type KeyEntry } from './api-keys.ts';

/** The periodic re-read behind the directory watch (a watch can miss a swap on some file systems). */
export const KEYS_FILE_CHECK_MS = 1_000;

/**
 * API keys from a file (ORCHD_API_KEYS_FILE: a mounted Kubernetes Secret), re-read when it changes: the directory is
 * watched — a Secret update swaps the `..data` symlink, an editor renames a new file over the old one — and the file
 * is also read every KEYS_FILE_CHECK_MS. A file that does not parse, or that cannot be read, leaves the keys in use
 * as they were and is logged (by line number, never by content).
 */
export class KeysFile {
  readonly #path: string;
  readonly #log: Logger;
  readonly #checkMs: number;
  #entries: readonly KeyEntry[] = [];
  #digest: string | null = null;
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #reading: Promise<void> | null = null;
  #again = false;

  constructor(path: string, log: Logger, checkMs = KEYS_FILE_CHECK_MS) {
    this.#path = path;
    this.#log = log.child({ keys_file: path });
    this.#checkMs = checkMs;
  }

  /** The keys in use now. */
  get entries(): readonly KeyEntry[] {
    return this.#entries;
  }

  /** Read the file (a file that is missing or does not parse stops the start), then follow its changes. */
  async start(): Promise<void> {
    const text = await readFile(this.#path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(`ORCHD_API_KEYS_FILE: cannot read ${this.#path} (${error.code ?? error.message})`);
    });
    const parsed = parseKeysFile(text);
    if (!parsed.ok) throw new Error(`ORCHD_API_KEYS_FILE: ${this.#path} ${parsed.message}`);
    this.#apply(parsed.entries, text);
    try {
      this.#watcher = watch(dirname(this.#path), { persistent: false }, () => void this.check());
      this.#watcher.on('error', (error) =>
        this.#log.warn({ err: error }, 'keys file watch failed; checking periodically'),
      );
    } catch (error) {
      this.#log.warn({ err: error }, 'keys file directory cannot be watched; checking periodically');
    }
    this.#timer = setInterval(() => void this.check(), this.#checkMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Re-read now (one read at a time; a change during a read reads again after it). */
  check(): Promise<void> {
    if (this.#reading !== null) {
      this.#again = true;
      return this.#reading;
    }
    this.#reading = this.#reread().finally(() => {
      this.#reading = null;
      if (this.#again) {
        this.#again = false;
        void this.check();
      }
    });
    return this.#reading;
  }

  async #reread(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if (this.#digest === 'unreadable') return;
      this.#digest = 'unreadable';
      const code = (error as NodeJS.ErrnoException).code;
      this.#log.error({ code }, 'API keys file cannot be read; the keys in use stay');
      return;
    }
    if (createHash('sha256').update(text).digest('hex') === this.#digest) return;
    const parsed = parseKeysFile(text);
    if (!parsed.ok) {
      this.#digest = createHash('sha256').update(text).digest('hex');
      this.#log.error({ problem: parsed.message }, 'API keys file refused; the keys in use stay');
      return;
    }
    this.#apply(parsed.entries, text);
    this.#log.info(
      { keys: parsed.entries.length, admins: parsed.entries.filter((e) => e.role === 'admin').length },
      'API keys file re-read',
    );
  }

  #apply(entries: readonly KeyEntry[], text: string): void {
    this.#entries = Object.freeze([...entries]);
    this.#digest = createHash('sha256').update(text).digest('hex');
  }
}
