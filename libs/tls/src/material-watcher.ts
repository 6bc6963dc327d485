import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { checkMaterial, readPem, type PemMaterial, type TlsFiles, type TlsMaterial } from './material.ts';

/** The logging the watcher needs; pino's Logger satisfies it. */
export interface TlsLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** TLS material that may change while a daemon runs: what is in use now, and word of each change. */
export interface TlsMaterialSource {
  readonly material: TlsMaterial;
  /** `listener` gets each new material once it passed the checks; returns the unsubscribe. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
}

export type RotationOutcome =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'rotated'; readonly material: TlsMaterial }
  /** The files hold new material that failed the checks; the current material stays in use. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** A file could not be read (mid-replacement, removed); the current material stays in use. */
  | { readonly kind: 'unreadable'; readonly reason: string };

export interface TlsMaterialWatcherOptions {
  readonly log: TlsLog;
  /** What the material is for, in log lines: "pool-managerd server", "orchestratord client". */
  readonly purpose: string;
  /** Re-read the files this often even when no file event came (default 5 s). */
  readonly checkIntervalMs?: number;
  /** After a file event, wait this long for the other files of the same update (default 100 ms). */
  readonly settleMs?: number;
}

/** The material named at start-up is missing or does not pass the checks: the daemon cannot start. */
export class TlsMaterialRefused extends Error {
  readonly code = 'TLS_MATERIAL_REFUSED';
}

const DEFAULT_CHECK_INTERVAL_MS = 5_000;
const DEFAULT_SETTLE_MS = 100;

const textOf = (pem: PemMaterial): string => `${pem.cert}\0${pem.key}\0${pem.ca ?? ''}`;
const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * A daemon's certificate, key and CA, re-read when the files change: events on their directories (an in-place
 * rewrite, or a Kubernetes Secret's atomic `..data` symlink swap) and a periodic check as the fallback. New material
 * is used only once it passes `checkMaterial`; otherwise the error is logged once and the current material stays.
 * Checks never overlap, and a check asked for while one runs runs again after it (that read may predate the change).
 */
export class TlsMaterialWatcher implements TlsMaterialSource {
  readonly #files: TlsFiles;
  readonly #options: TlsMaterialWatcherOptions;
  readonly #listeners = new Set<(material: TlsMaterial) => void>();
  #material: TlsMaterial | null = null;
  /** The text of the material in use. */
  #text = '';
  /** The problem logged last (a read error, or the text of refused material): each is logged once. */
  #lastProblem: string | null = null;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | null = null;
  #settle: NodeJS.Timeout | null = null;
  #running: Promise<RotationOutcome> | null = null;
  #queued: Promise<RotationOutcome> | null = null;
  #stopped = false;

  constructor(files: TlsFiles, options: TlsMaterialWatcherOptions) {
    this.#files = files;
    this.#options = options;
  }

  get material(): TlsMaterial {
    if (this.#material === null) throw new Error(`${this.#options.purpose} TLS material: start() was not called`);
    return this.#material;
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Read and check the files (refused: throws TlsMaterialRefused naming them), then watch them. Idempotent. */
  async start(): Promise<void> {
    if (this.#material !== null || this.#stopped) return;
    const names = this.#fileList();
    let pem: PemMaterial;
    try {
      pem = await readPem(this.#files);
    } catch (error) {
      throw new TlsMaterialRefused(`${this.#options.purpose} TLS files (${names}): ${reasonOf(error)}`);
    }
    const checked = checkMaterial(pem);
    if (checked.kind === 'refused')
      throw new TlsMaterialRefused(`${this.#options.purpose} TLS files (${names}): ${checked.reason}`);
    this.#material = checked.material;
    this.#text = textOf(pem);
    this.#watchDirectories();
    this.#timer = setInterval(() => void this.check(), this.#options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
    this.#timer.unref();
    this.#options.log.info(
      { purpose: this.#options.purpose, ...this.#describe(checked.material), files: names },
      `${this.#options.purpose} TLS material loaded; watching its files for rotation`,
    );
  }

  /** Stop watching; the material stays readable. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#settle !== null) clearTimeout(this.#settle);
    this.#timer = this.#settle = null;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    this.#listeners.clear();
    await this.#queued;
    await this.#running;
  }

  /** Re-read the files now (after the check that is running, if one is). */
  check(): Promise<RotationOutcome> {
    if (this.#queued !== null) return this.#queued;
    if (this.#running === null) return this.#run();
    this.#queued = this.#running.then(() => {
      this.#queued = null;
      return this.#run();
    });
    return this.#queued;
  }

  #run(): Promise<RotationOutcome> {
    const run = this.#checkOnce().finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }

  async #checkOnce(): Promise<RotationOutcome> {
    if (this.#stopped || this.#material === null) return { kind: 'unchanged' };
    const { log, purpose } = this.#options;
    const current = this.#material;
    let pem: PemMaterial;
    try {
      pem = await readPem(this.#files);
    } catch (error) {
      const reason = reasonOf(error);
      if (this.#lastProblem !== reason)
        log.warn(
          { purpose, reason, files: this.#fileList(), in_use: current.serialNumber },
          `${purpose} TLS files unreadable; the current material stays in use`,
        );
      this.#lastProblem = reason;
      return { kind: 'unreadable', reason };
    }
    const text = textOf(pem);
    if (text === this.#text) {
      this.#lastProblem = null;
      return { kind: 'unchanged' };
    }
    const checked = checkMaterial(pem);
    if (checked.kind === 'refused') {
      if (this.#lastProblem !== text)
        log.error(
          { purpose, reason: checked.reason, files: this.#fileList(), in_use: current.serialNumber },
          `${purpose} TLS material refused: ${checked.reason}; the current material stays in use`,
        );
      this.#lastProblem = text;
      return { kind: 'refused', reason: checked.reason };
    }
    this.#material = checked.material;
    this.#text = text;
    this.#lastProblem = null;
    log.info(
      { purpose, ...this.#describe(checked.material), previous_serial_number: current.serialNumber },
      `${purpose} TLS material rotated; new connections use it`,
    );
    for (const listener of this.#listeners) {
      try {
        listener(checked.material);
      } catch (error) {
        log.error({ purpose, err: error }, `${purpose} TLS rotation: a listener failed`);
      }
    }
    return { kind: 'rotated', material: checked.material };
  }

  /**
   * Watch the directories holding the files: an event naming one of them, or a Kubernetes `..data`-style entry,
   * schedules a check once the update settles. A directory that cannot be watched is left to the periodic check.
   */
  #watchDirectories(): void {
    const files = [this.#files.certFile, this.#files.keyFile, this.#files.caFile].filter(
      (file): file is string => file !== undefined,
    );
    const byDir = new Map<string, Set<string>>();
    for (const file of files) {
      const path = resolve(file);
      const names = byDir.get(dirname(path)) ?? new Set<string>();
      byDir.set(dirname(path), names.add(basename(path)));
    }
    for (const [dir, names] of byDir) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || names.has(name) || name.startsWith('..')) this.#soon();
        });
        watcher.on('error', (error) => {
          this.#options.log.warn(
            { purpose: this.#options.purpose, dir, err: error },
            `${this.#options.purpose} TLS directory watch failed; the periodic check goes on`,
          );
          watcher.close();
        });
        this.#watchers.push(watcher);
      } catch (error) {
        this.#options.log.warn(
          { purpose: this.#options.purpose, dir, err: error },
          `${this.#options.purpose} TLS directory cannot be watched; the periodic check goes on`,
        );
      }
    }
  }

  #soon(): void {
    if (this.#stopped) return;
    if (this.#settle !== null) clearTimeout(this.#settle);
    this.#settle = setTimeout(() => {
      this.#settle = null;
      void this.check();
    }, this.#options.settleMs ?? DEFAULT_SETTLE_MS);
    this.#settle.unref();
  }

  #fileList(): string {
    return [this.#files.certFile, this.#files.keyFile, this.#files.caFile].filter((f) => f !== undefined).join(', ');
  }

  #describe(material: TlsMaterial): Record<string, string> {
    return { serial_number: material.serialNumber, subject: material.subject, valid_to: material.validTo };
  }
}
