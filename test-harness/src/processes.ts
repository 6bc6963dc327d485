import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/** Every child started here that has not exited yet (see killStarted). */
const running = new Set<ChildProcess>();

/**
 * SIGKILL every process startProcess started that still runs: for a run that gives up on a step which never came
 * back to stop its own (the chaos suite's section budget). Their engines go with them (their watchdogs).
 */
export function killStarted(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Start a command, collecting its output; the caller stops it by pid (see stopProcess). */
export function startProcess(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string = process.cwd(),
): RunningProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return { child, output: () => text, exited };
}

/** SIGTERM, then SIGKILL after the grace period; only the process we started. */
export async function stopProcess(proc: RunningProcess, graceMs = 10_000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kill a pid we know to be ours (an engine a test launched), if it still runs. */
export function killPid(pid: number): void {
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** Poll until `probe` returns a value (not undefined), or fail after the timeout with what was last seen. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
