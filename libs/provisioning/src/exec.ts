import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

export interface ExecOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Append stdout and stderr to this file. */
  readonly logFile?: string;
  /** Called with each line of output (stdout and stderr). */
  readonly onLine?: (line: string) => void;
  /** Aborting kills the command and everything it started (it runs in its own process group). */
  readonly signal?: AbortSignal;
}

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const KEEP = 64 * 1024;

/** Run a command to completion; never throws for a non-zero exit (that is a value), only for a missing binary. */
export async function exec(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  options.signal?.throwIfAborted();
  const child = spawn(command, args, {
    cwd: options.cwd,
    ...(options.env ? { env: options.env } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.signal !== undefined,
  });
  const killGroup = (): void => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  options.signal?.addEventListener('abort', killGroup, { once: true });
  const log = options.logFile === undefined ? null : createWriteStream(options.logFile, { flags: 'a' });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const onData = (chunk: Buffer, which: 'out' | 'err'): void => {
    const text = chunk.toString('utf8');
    if (which === 'out') stdout = (stdout + text).slice(-KEEP);
    else stderr = (stderr + text).slice(-KEEP);
    log?.write(chunk);
    if (options.onLine) {
      const lines = (partial + text).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    }
  };
  child.stdout.on('data', (c: Buffer) => onData(c, 'out'));
  child.stderr.on('data', (c: Buffer) => onData(c, 'err'));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  options.signal?.removeEventListener('abort', killGroup);
  if (partial !== '' && options.onLine) options.onLine(partial);
  if (log) {
    log.end();
    await once(log, 'close');
  }
  return { code, signal, stdout, stderr };
}

/** Like exec, but a missing binary is also a value: `null`. */
export async function tryExec(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult | null> {
  try {
    return await exec(command, args, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
