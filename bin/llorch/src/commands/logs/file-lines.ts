import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';

/** Every line of a file, in order (a rotated log: it no longer grows). */
export async function* fileLines(file: string): AsyncGenerator<string> {
  const input = createReadStream(file, { encoding: 'utf8' });
  try {
    yield* createInterface({ input, crlfDelay: Infinity });
  } finally {
    input.destroy();
  }
}

const CHUNK = 64 * 1024;

/**
 * The growing current file of a log, read from the start and then as it grows (`tail -F`). A rotation (the file
 * renamed to `.1` and a new one created) is seen by its inode: what was written to the old file is read to its
 * end first, then the new file from its start. A file cut short (copy-truncate) is read again from its start.
 */
export class FileFollower {
  readonly file: string;
  #handle: FileHandle | null = null;
  #inode = -1;
  #offset = 0;
  #partial = '';
  #decoder = new StringDecoder('utf8');

  constructor(file: string) {
    this.file = file;
  }

  /** The complete lines written since the last call (all of them on the first). */
  async read(): Promise<string[]> {
    const lines: string[] = [];
    if (this.#handle === null && !(await this.#open())) return lines;
    await this.#drain(lines);
    const now = await stat(this.file).catch(() => null);
    if (now !== null && now.ino !== this.#inode) {
      // Rotated: read the old file to its end (written up to the rename); an unterminated last line is complete.
      await this.#drain(lines);
      this.#flushPartial(lines);
      await this.close();
      if (await this.#open()) await this.#drain(lines);
    } else if (now !== null && now.size < this.#offset) {
      this.#offset = 0;
      this.#partial = '';
      this.#decoder = new StringDecoder('utf8');
      await this.#drain(lines);
    }
    return lines;
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    await handle?.close().catch(() => undefined);
  }

  async #open(): Promise<boolean> {
    try {
      const handle = await open(this.file, 'r');
      this.#handle = handle;
      this.#inode = (await handle.stat()).ino;
      this.#offset = 0;
      this.#partial = '';
      this.#decoder = new StringDecoder('utf8');
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  async #drain(lines: string[]): Promise<void> {
    const handle = this.#handle;
    if (handle === null) return;
    const buffer = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, this.#offset);
      if (bytesRead === 0) return;
      this.#offset += bytesRead;
      const pieces = (this.#partial + this.#decoder.write(buffer.subarray(0, bytesRead))).split('\n');
      this.#partial = pieces.pop() ?? '';
      lines.push(...pieces);
    }
  }

  #flushPartial(lines: string[]): void {
    const rest = this.#partial + this.#decoder.end();
    if (rest !== '') lines.push(rest);
    this.#partial = '';
  }
}
