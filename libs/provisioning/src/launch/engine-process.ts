import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { tail } from '../engine/build-error.ts';
import { StoppedError } from '../engine/ensure-engine.ts';
import { ProvisioningError } from '../errors.ts';
import { watchGroup } from './group-watchdog.ts';
import { RotatingFile, type LogRotation } from './rotating-file.ts';

/** A llama-server that did not become healthy: exited early or timed out, with its log tail. */
export class EngineStartError extends ProvisioningError {
  readonly logTail: string;

  constructor(message: string, logTail: string) {
    super('PROV_ENGINE_START_FAILED', logTail === '' ? message : `${message}\n--- engine log ---\n${logTail}`);
    this.name = 'EngineStartError';
    this.logTail = logTail;
  }
}

export interface StartedEngine {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** How long the watchdog lets an engine whose supervisor died shut down before it kills it. */
const ORPHAN_GRACE_MS = 5_000;

async function healthy(url: string, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    const response = await request(`${url}/health`, {
      headersTimeout: 2000,
      bodyTimeout: 2000,
      ...(signal ? { signal } : {}),
    });
    await response.body.dump();
    return response.statusCode === 200;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL to its whole group after the grace period; resolves once the process is gone. */
async function terminate(child: ChildProcess, exited: Promise<unknown>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/**
 * Spawn llama-server and wait (bounded) until /health answers 200.
 *
 * The engine runs in a process group of its own (a Ctrl-C in the terminal reaches its supervisor, which stops it on
 * purpose, never the engine directly), watched by a group watchdog: if the supervisor dies — `kill -9`, the OOM
 * killer — the engine gets SIGTERM, then SIGKILL, instead of running on under init. Its output goes through this
 * process into `logFile`, rotated by size. An abort of `signal` while it starts kills it and throws StoppedError.
 */
export async function startEngine(options: {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly port: number;
  readonly logFile: string;
  readonly logRotation?: LogRotation;
  readonly healthTimeoutMs: number;
  /** The environment the engine starts from (the provisioner's own); `env` is added to it. */
  readonly baseEnv: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
}): Promise<StartedEngine> {
  const [command, ...args] = options.argv;
  if (command === undefined) throw new EngineStartError('empty engine command', '');
  const { signal } = options;
  if (signal?.aborted) throw new StoppedError('the engine start');
  const log = new RotatingFile(options.logFile, options.logRotation);
  log.write(`\n# ${new Date().toISOString()} $ ${options.argv.join(' ')}\n`);
  const child = spawn(command, args, {
    env: { ...options.baseEnv, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const watchdog = child.pid === undefined ? null : watchGroup(child.pid, ORPHAN_GRACE_MS);
  child.stdout?.on('data', (chunk: Buffer) => log.write(chunk));
  child.stderr?.on('data', (chunk: Buffer) => log.write(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, exitSignal) => resolve({ code, signal: exitSignal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  void exited.then(() => watchdog?.dismiss());
  // After the last output is written (its pipes closed), or at once when it never started.
  child.once('close', () => log.close());
  child.once('error', () => log.close());
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const url = `http://127.0.0.1:${options.port}`;
  const logTail = async (): Promise<string> => tail(await readFile(options.logFile, 'utf8').catch(() => ''), 20);

  const deadline = Date.now() + options.healthTimeoutMs;
  let exitedEarly: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  void exited.then((status) => {
    exitedEarly = status;
  });
  for (;;) {
    if (signal?.aborted) {
      await terminate(child, exited, ORPHAN_GRACE_MS);
      throw new StoppedError('the engine start');
    }
    if (exitedEarly !== null || child.exitCode !== null) {
      const error = await Promise.race([spawnError, sleep(10).then(() => null)]);
      const status = exitedEarly ?? { code: child.exitCode, signal: null };
      const why = error
        ? `could not start ${command}: ${error.message}`
        : `llama-server exited (${status.signal ?? `code ${status.code}`}) before /health answered`;
      throw new EngineStartError(why, await logTail());
    }
    if (await healthy(url, signal)) return { child, pid: child.pid ?? 0, url, exited };
    if (Date.now() > deadline) {
      killGroup(child, 'SIGKILL');
      await exited;
      throw new EngineStartError(
        `llama-server did not answer /health with 200 within ${options.healthTimeoutMs} ms`,
        await logTail(),
      );
    }
    await sleep(200, undefined, signal ? { signal } : {}).catch(() => undefined);
  }
}

/** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
export async function stopEngine(engine: StartedEngine, graceMs: number): Promise<void> {
  await terminate(engine.child, engine.exited, graceMs);
}
