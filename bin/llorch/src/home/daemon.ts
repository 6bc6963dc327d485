import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

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

/** A supervised daemon: its JSON log lines go to `onLine`, its stderr is kept for error reports. */
export class Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #stderr = '';

  constructor(name: string, script: string, env: NodeJS.ProcessEnv, onLine: (line: LogLine) => void) {
    this.name = name;
    this.child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const text of lines) {
        try {
          onLine(JSON.parse(text) as LogLine);
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
