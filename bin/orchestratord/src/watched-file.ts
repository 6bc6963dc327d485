import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/** The periodic re-read behind the directory watch (a watch can miss a swap on some file systems). */
export const FILE_CHECK_MS = 1_000;

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

export interface WatchedFileOptions<T> {
  readonly path: string;
  /** The variable that names the file, for errors: `ORCHD_API_KEYS_FILE`. */
  readonly variable: string;
  /** What the file is, for logs: `API keys file`. */
  readonly what: string;
  readonly parse: (text: string) => Parsed<T>;
  /** What the log says of a value read (counts, never secrets). */
  readonly describe: (value: T) => Record<string, unknown>;
  readonly log: Logger;
  readonly checkMs?: number;
}

/**
 * A configuration file re-read when it changes (a mounted Kubernetes Secret or ConfigMap, a file an operator edits):
 * its directory is watched — an update swaps the `..data` symlink, an editor renames a new file over the old one —
 * and the file is also read every FILE_CHECK_MS. A file that does not parse, or cannot be read, leaves the value in
 * use as it was and is logged by its parse message (which never quotes a secret).
 */
export class WatchedFile<T> {
  readonly #options: WatchedFileOptions<T>;
  readonly #log: Logger;
  #value: T | null = null;
  #digest: string | null = null;
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #reading: Promise<void> | null = null;
  #again = false;

  constructor(options: WatchedFileOptions<T>) {
    this.#options = options;
    this.#log = options.log.child({ file: options.path });
  }

  /** The value in use now (start() has read it). */
  get value(): T {
    if (this.#value === null) throw new Error(`${this.#options.variable} has not been read yet`);
    return this.#value;
  }

  /** Read the file (a file that is missing or does not parse stops the start), then follow its changes. */
  async start(): Promise<void> {
    const { path, variable } = this.#options;
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(`${variable}: cannot read ${path} (${error.code ?? error.message})`);
    });
    const parsed = this.#options.parse(text);
    if (!parsed.ok) throw new Error(`${variable}: ${path} ${parsed.message}`);
    this.#apply(parsed.value, text);
    try {
      this.#watcher = watch(dirname(path), { persistent: false }, () => void this.check());
      this.#watcher.on('error', (error) => this.#log.warn({ err: error }, 'file watch failed; checking periodically'));
    } catch (error) {
      this.#log.warn({ err: error }, 'directory cannot be watched; checking periodically');
    }
    this.#timer = setInterval(() => void this.check(), this.#options.checkMs ?? FILE_CHECK_MS);
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
    const { what } = this.#options;
    let text: string;
    try {
      text = await readFile(this.#options.path, 'utf8');
    } catch (error) {
      if (this.#digest === 'unreadable') return;
      this.#digest = 'unreadable';
      const code = (error as NodeJS.ErrnoException).code;
      this.#log.error({ code }, `${what} cannot be read; the one in use stays`);
      return;
    }
    const digest = createHash('sha256').update(text).digest('hex');
    if (digest === this.#digest) return;
    const parsed = this.#options.parse(text);
    if (!parsed.ok) {
      this.#digest = digest;
      this.#log.error({ problem: parsed.message }, `${what} refused; the one in use stays`);
      return;
    }
    this.#apply(parsed.value, text);
    this.#log.info(this.#options.describe(parsed.value), `${what} re-read`);
  }

  #apply(value: T, text: string): void {
    this.#value = value;
    this.#digest = createHash('sha256').update(text).digest('hex');
  }
}
