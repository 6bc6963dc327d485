import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { failureCodes } from './failure-codes.ts';

const require = createRequire(import.meta.url);

/** The command script of another package's daemon (found through its package, never imported). */
export function daemonScript(pkg: '@llama-orch/pool-managerd' | '@llama-orch/orchestratord', name: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', `${name}.js`);
}

export interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

/** At or above pino's `error` level. */
export const isErrorLine = (line: LogLine): boolean => (line.level ?? 0) >= 50;

/**
 * A supervised daemon: its JSON log lines go to `onLine`, its stderr is kept for error reports, and the codes of
 * the last error it logged with one are kept to decide what to tell the user.
 */
export class Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #stderr = '';
  #failureCodes: readonly string[] = [];

  constructor(name: string, script: string, env: NodeJS.ProcessEnv, onLine: (line: LogLine) => void) {
    this.name = name;
    this.child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const text of lines) {
        try {
          const line = JSON.parse(text) as LogLine;
          const codes = isErrorLine(line) ? failureCodes(line) : [];
          if (codes.length > 0) this.#failureCodes = codes;
          onLine(line);
        } catch {
          // not a log line
        }
      }
    });
    this.child.stderr?.on(
      'data',
      (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-8192)),
    );
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get stderr(): string {
    return this.#stderr.trim();
  }

  /** The codes of the last error logged with a code (`err.code`, `err.findings[].code`); none so far if empty. */
  get failureCodes(): readonly string[] {
    return this.#failureCodes;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after the grace period. */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
