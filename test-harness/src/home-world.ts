import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PoolStatus } from '@llama-orch/contracts';
import { freePort } from './free-port.ts';
import { isAlive, startProcess, stopProcess, waitFor, type RunningProcess } from './processes.ts';
import { readHandoff } from './provisioner-cli.ts';

/**
 * Wait until a HOME tree has taken its engines down (no handoff left), so that its state directory can be
 * removed without pulling locks from under processes that are still stopping.
 */
export async function homeGone(state: string): Promise<void> {
  await waitFor(
    'the HOME tree to stop its engines',
    async () =>
      (await readdir(join(state, 'engines')).catch(() => [] as string[])).some((n) => n.endsWith('.json'))
        ? undefined
        : true,
    30_000,
  );
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LLORCH = join(ROOT, 'bin', 'llorch', 'bin', 'llorch.js');

/**
 * `llorch home --config <file>` with `yaml` as the file, in a fresh state directory on free loopback ports, as a
 * user runs it; resolves at its ready line. `after` (a test's `t.after`) gets its stop and the directory's removal.
 */
export async function startHomeWithConfig(
  yaml: string,
  after: (cleanup: () => Promise<void>) => void,
  readyMs = 180_000,
): Promise<{ url: string; state: string; home: RunningProcess }> {
  const state = await mkdtemp(join(tmpdir(), 'llorch-home-config-'));
  const config = join(state, 'pools.yaml');
  await writeFile(config, yaml);
  const port = await freePort();
  const home = startProcess(process.execPath, [LLORCH, 'home', '--config', config], {
    ...process.env,
    POOL_MANAGERD_RUNTIME_DIR: state,
    ORCHD_BIND_ADDR: `127.0.0.1:${port}`,
    POOL_MANAGERD_BIND_ADDR: `127.0.0.1:${await freePort()}`,
    LLORCH_URL: undefined,
    LLORCH_CONFIG: undefined,
  });
  after(async () => {
    await stopProcess(home);
    await homeGone(state).catch(() => undefined);
    await rm(state, { recursive: true, force: true });
  });
  await waitFor(
    'the ready line',
    () => {
      if (home.child.exitCode !== null) throw new Error(`llorch home exited:\n${home.output()}`);
      return home.output().includes('llama-orch is ready') ? true : undefined;
    },
    readyMs,
  );
  return { url: `http://127.0.0.1:${port}`, state, home };
}

/**
 * The typed harness behind the BDD steps: one HOME installation in a temporary state directory on free
 * loopback ports. Later waves grow it into a multi-node cluster.
 */
export class HomeWorld {
  state = '';
  url = '';
  env: NodeJS.ProcessEnv = {};
  home: RunningProcess | null = null;
  enginePids: number[] = [];
  lastOutput = '';
  stopping: Promise<number | null> = Promise.resolve(null);

  async freshState(): Promise<void> {
    this.state = await mkdtemp(join(tmpdir(), 'llorch-bdd-'));
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.env = {
      ...process.env,
      POOL_MANAGERD_RUNTIME_DIR: this.state,
      ORCHD_BIND_ADDR: `127.0.0.1:${port}`,
      POOL_MANAGERD_BIND_ADDR: `127.0.0.1:${await freePort()}`,
      LLORCH_URL: this.url,
    };
  }

  start(): void {
    this.home = startProcess('npm', ['start', '--silent'], { ...this.env, npm_config_loglevel: 'silent' }, ROOT);
  }

  async ready(timeoutMs: number): Promise<void> {
    const home = this.home;
    if (home === null) throw new Error('llama-orch was not started');
    await waitFor(
      'the ready line',
      () => (home.output().includes('llama-orch is ready') ? true : undefined),
      timeoutMs,
    );
    const handoffs = (await readdir(join(this.state, 'engines'))).filter((n) => n.endsWith('.json'));
    for (const name of handoffs) {
      const handoff = await readHandoff(join(this.state, 'engines', name));
      if (handoff) this.enginePids.push(handoff.pid);
    }
  }

  async llorch(...args: string[]): Promise<{ code: number | null; output: string }> {
    const proc = startProcess(process.execPath, [LLORCH, ...args], this.env);
    const code = await proc.exited;
    this.lastOutput = proc.output();
    return { code, output: this.lastOutput };
  }

  pools(): PoolStatus[] {
    return (JSON.parse(this.lastOutput) as { pools: PoolStatus[] }).pools;
  }

  async stop(): Promise<number | null> {
    const home = this.home;
    if (home === null) return null;
    home.child.kill('SIGTERM');
    return home.exited;
  }

  async leftovers(): Promise<{ engines: number[]; handoffs: string[] }> {
    const handoffs = (await readdir(join(this.state, 'engines')).catch(() => [] as string[])).filter((n) =>
      n.endsWith('.json'),
    );
    return { engines: this.enginePids.filter(isAlive), handoffs };
  }

  async cleanup(): Promise<void> {
    if (this.home) await stopProcess(this.home);
    if (this.state !== '') await homeGone(this.state);
    if (this.state !== '') await rm(this.state, { recursive: true, force: true });
  }
}
