import type { DownloadProgress } from '@llama-orch/provisioning';

const MB = 1024 * 1024;

function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}

/** One line of download progress: bytes, rate, ETA. */
export function downloadLine(poolId: string, p: DownloadProgress): string {
  const done = (p.bytes / MB).toFixed(1);
  const total = p.total === null ? '?' : (p.total / MB).toFixed(1);
  const percent = p.total === null ? '' : ` ${Math.floor((p.bytes * 100) / p.total)}%`;
  return `model ${poolId}: ${done}/${total} MB${percent} at ${(p.bytesPerSecond / MB).toFixed(1)} MB/s, ETA ${duration(p.etaSeconds)}`;
}

/** Progress on a TTY redraws one line; elsewhere each change is a line of its own (throttled by the caller). */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  #open = false;
  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
  }
  update(text: string): void {
    if (this.#stream.isTTY) {
      this.#stream.write(`\r\x1b[2K${text}`);
      this.#open = true;
    }
  }
  done(text?: string): void {
    if (this.#open) this.#stream.write('\r\x1b[2K');
    this.#open = false;
    if (text !== undefined) this.#stream.write(`${text}\n`);
  }
}
