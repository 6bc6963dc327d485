/** Start-up to the ready line: `npm start` (HOME, build and demo model cached) and orchestratord alone. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { testEngine } from '../src/engine-fixture.ts';
import { freePort } from '../src/free-port.ts';
import { homeGone } from '../src/home-world.ts';
import { ORCHESTRATORD_CLI } from '../src/orchestratord-process.ts';
import { startProcess, stopProcess, waitFor, type RunningProcess } from '../src/processes.ts';
import { DAEMON_NODE_FLAGS } from '@llama-orch/lifecycle';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Milliseconds from spawn until the output holds `line`, polled every 5 ms. */
async function timeToLine(proc: RunningProcess, line: string, started: number): Promise<number> {
  return waitFor(
    `"${line}"`,
    () => {
      if (proc.child.exitCode !== null) throw new Error(`exited before "${line}":\n${proc.output().slice(-800)}`);
      return proc.output().includes(line) ? performance.now() - started : undefined;
    },
    120_000,
    5,
  );
}

export async function timeNpmStart(): Promise<number> {
  await testEngine();
  const state = await mkdtemp(join(tmpdir(), 'llorch-bench-home-'));
  const env = {
    ...process.env,
    POOL_MANAGERD_RUNTIME_DIR: state,
    ORCHD_BIND_ADDR: `127.0.0.1:${await freePort()}`,
    POOL_MANAGERD_BIND_ADDR: `127.0.0.1:${await freePort()}`,
    npm_config_loglevel: 'silent',
  };
  const started = performance.now();
  const npm = startProcess('npm', ['start', '--silent'], env, ROOT);
  try {
    return await timeToLine(npm, 'llama-orch is ready', started);
  } finally {
    await stopProcess(npm);
    await homeGone(state).catch(() => undefined);
    await rm(state, { recursive: true, force: true });
  }
}

/** orchestratord with one (absent) pool-managerd to poll, to its listening line. */
export async function timeOrchestratord(): Promise<number> {
  const env = {
    ...process.env,
    ORCHD_BIND_ADDR: '127.0.0.1:0',
    ORCHD_POOL_MANAGERS: `http://127.0.0.1:${await freePort()}`,
  };
  const started = performance.now();
  const proc = startProcess(process.execPath, [...DAEMON_NODE_FLAGS, ORCHESTRATORD_CLI], env);
  try {
    return await timeToLine(proc, '"orchestratord listening"', started);
  } finally {
    await stopProcess(proc);
  }
}

export async function repeat(times: number, measure: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i += 1) out.push(await measure());
  return out;
}
