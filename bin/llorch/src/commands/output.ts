/**
 * The terminal or pipe a command writes to. A reader that goes away (`llorch chat … | head -c 50`: EPIPE) is an
 * outcome, not a crash: `gone` aborts, later writes are dropped, and the command cancels what it was streaming
 * and exits quietly.
 */
export class Output {
  readonly #stream: NodeJS.WriteStream;
  readonly #gone = new AbortController();

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      // EPIPE: the reader closed its end. Any other write error also means nobody reads this any more.
      if (!this.#gone.signal.aborted) this.#gone.abort(error);
    });
  }

  /** Aborts when the reader went away. */
  get gone(): AbortSignal {
    return this.#gone.signal;
  }

  get isTTY(): boolean {
    return this.#stream.isTTY;
  }

  write(text: string): void {
    if (!this.#gone.signal.aborted && text !== '') this.#stream.write(text);
  }
}

let outputs: { stdout: Output; stderr: Output } | null = null;

/** stdout and stderr, each watched for its reader going away (once per process). */
export function terminal(): { stdout: Output; stderr: Output } {
  outputs ??= { stdout: new Output(process.stdout), stderr: new Output(process.stderr) };
  return outputs;
}

/** Rows as columns two spaces apart, each as wide as its widest cell (the first row is the header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
