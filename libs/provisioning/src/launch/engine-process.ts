import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { tail } from '../engine/build-error.ts';
import { ProvisioningError } from '../errors.ts';

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

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await request(`${url}/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
    await response.body.dump();
    return response.statusCode === 200;
  } catch {
    return false;
  }
}

/** Spawn llama-server and wait (bounded) until /health answers 200. */
export async function startEngine(options: {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly port: number;
  readonly logFile: string;
  readonly healthTimeoutMs: number;
  /** The environment the engine starts from (the provisioner's own); `env` is added to it. */
  readonly baseEnv: NodeJS.ProcessEnv;
}): Promise<StartedEngine> {
  const [command, ...args] = options.argv;
  if (command === undefined) throw new EngineStartError('empty engine command', '');
  await mkdir(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  await once(log, 'open');
  log.write(`\n# ${new Date().toISOString()} $ ${options.argv.join(' ')}\n`);
  const child = spawn(command, args, { env: { ...options.baseEnv, ...options.env }, stdio: ['ignore', log, log] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  void exited.then(() => log.end());
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const url = `http://127.0.0.1:${options.port}`;
  const logTail = async (): Promise<string> => tail(await readFile(options.logFile, 'utf8').catch(() => ''), 20);

  const deadline = Date.now() + options.healthTimeoutMs;
  let exitedEarly: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  void exited.then((status) => {
    exitedEarly = status;
  });
  for (;;) {
    if (exitedEarly !== null || child.exitCode !== null) {
      const error = await Promise.race([spawnError, sleep(10).then(() => null)]);
      const status = exitedEarly ?? { code: child.exitCode, signal: null };
      const why = error
        ? `could not start ${command}: ${error.message}`
        : `llama-server exited (${status.signal ?? `code ${status.code}`}) before /health answered`;
      throw new EngineStartError(why, await logTail());
    }
    if (await healthy(url)) return { child, pid: child.pid ?? 0, url, exited };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new EngineStartError(
        `llama-server did not answer /health with 200 within ${options.healthTimeoutMs} ms`,
        await logTail(),
      );
    }
    await sleep(200);
  }
}

/** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
export async function stopEngine(engine: StartedEngine, graceMs: number): Promise<void> {
  if (engine.child.exitCode !== null || engine.child.signalCode !== null) return;
  engine.child.kill('SIGTERM');
  const timer = setTimeout(() => engine.child.kill('SIGKILL'), graceMs);
  await engine.exited;
  clearTimeout(timer);
}
