import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface LogRotation {
  /** A file that would grow past this many bytes is rotated first. */
  readonly maxBytes: number;
  /** How many rotated predecessors are kept: `<file>.1` (the newest) … `<file>.<keep>`. */
  readonly keep: number;
}

/** 10 MB × 3: the current file and two predecessors. */
export const DEFAULT_LOG_ROTATION: LogRotation = { maxBytes: 10 * 1024 * 1024, keep: 2 };

/**
 * An append-only log file rotated by size: before a write would take it past `maxBytes`, `<file>.<keep-1>` moves to
 * `<file>.<keep>` (the oldest is dropped), …, `<file>` to `<file>.1`, and a new `<file>` is started. Writes are
 * synchronous and small (log lines), so lines are never torn or reordered, and nothing is lost at exit.
 */
export class RotatingFile {
  readonly path: string;
  readonly #rotation: LogRotation;
  #fd: number | null;
  #size: number;

  constructor(path: string, rotation: LogRotation = DEFAULT_LOG_ROTATION) {
    this.path = path;
    this.#rotation = rotation;
    mkdirSync(dirname(path), { recursive: true });
    this.#fd = openSync(path, 'a');
    this.#size = fstatSync(this.#fd).size;
  }

  write(chunk: string | Buffer): void {
    if (this.#fd === null) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (this.#size > 0 && this.#size + bytes.length > this.#rotation.maxBytes) this.#rotate();
    writeSync(this.#fd, bytes);
    this.#size += bytes.length;
  }

  #rotate(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    const { keep } = this.#rotation;
    if (keep < 1) rmSync(this.path, { force: true });
    for (let n = keep - 1; n >= 1; n -= 1) {
      if (existsSync(`${this.path}.${n}`)) renameSync(`${this.path}.${n}`, `${this.path}.${n + 1}`);
    }
    if (keep >= 1) renameSync(this.path, `${this.path}.1`);
    this.#fd = openSync(this.path, 'a');
    this.#size = 0;
  }

  /** Idempotent; later writes are dropped. */
  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}
