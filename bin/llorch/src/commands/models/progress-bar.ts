import type { DownloadProgress } from '@llama-orch/provisioning';
import type { Output } from '../output.ts';
import { humanBytes } from './model-cache.ts';

/** `42s`, `3m05s`, `1h02m`. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * One line of download progress: `[#########·········]  48%  2.3 MiB / 4.8 MiB  1.1 MiB/s  ETA 2s`; without a
 * known size, the bytes and the rate only.
 */
export function renderProgress(progress: DownloadProgress, barWidth = 24): string {
  const rate = `${humanBytes(progress.bytesPerSecond)}/s`;
  if (progress.total === null || progress.total === 0) return `${humanBytes(progress.bytes)}  ${rate}`;
  const fraction = Math.min(1, progress.bytes / progress.total);
  const filled = Math.round(fraction * barWidth);
  const bar = `[${'#'.repeat(filled)}${'·'.repeat(barWidth - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const eta = progress.etaSeconds === null ? 'ETA ?' : `ETA ${humanDuration(progress.etaSeconds)}`;
  return `${bar} ${percent}  ${humanBytes(progress.bytes)} / ${humanBytes(progress.total)}  ${rate}  ${eta}`;
}

const PLAIN_EVERY_MS = 2_000;

/**
 * Progress on a terminal: one line redrawn in place. Elsewhere (a log, CI) a line every two seconds and the last
 * one, so that the output stays readable.
 */
export class ProgressLine {
  readonly #out: Output;
  #lastPlain = 0;
  #last: DownloadProgress | null = null;
  #drawn = false;

  constructor(out: Output) {
    this.#out = out;
  }

  update(progress: DownloadProgress): void {
    this.#last = progress;
    if (this.#out.isTTY) {
      this.#out.write(`\r${renderProgress(progress)}\x1b[K`);
      this.#drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.#lastPlain >= PLAIN_EVERY_MS) {
      this.#lastPlain = now;
      this.#out.write(`${renderProgress(progress)}\n`);
      this.#drawn = false;
    } else this.#drawn = true;
  }

  /** Leave the last figures on screen, ended by a newline. */
  end(): void {
    if (this.#last === null || !this.#drawn) return;
    this.#out.write(this.#out.isTTY ? '\n' : `${renderProgress(this.#last)}\n`);
    this.#drawn = false;
  }
}
