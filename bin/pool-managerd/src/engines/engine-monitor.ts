import type { Dispatcher } from 'undici';
import type { PoolRegistry } from '../registry/pool-registry.ts';
import { engineRequest } from './engine-agent.ts';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function probe(
  agent: Dispatcher,
  url: string,
  pid: number,
): Promise<{ healthy: boolean; processing: number | null; error: string | null }> {
  if (!pidAlive(pid)) return { healthy: false, processing: null, error: `engine process ${pid} is gone` };
  try {
    const health = await engineRequest(agent, `${url}/health`, { method: 'GET', timeoutMs: 2_000 });
    const body = await health.body.text();
    if (health.statusCode !== 200) {
      return {
        healthy: false,
        processing: null,
        error: `engine /health answered ${health.statusCode}${body ? `: ${body.slice(0, 120)}` : ''}`,
      };
    }
    const slots = await engineRequest(agent, `${url}/slots`, { method: 'GET', timeoutMs: 2_000 });
    const list =
      slots.statusCode === 200
        ? ((await slots.body.json()) as { is_processing?: boolean }[])
        : (await slots.body.dump(), null);
    const processing = Array.isArray(list) ? list.filter((slot) => slot.is_processing === true).length : null;
    return { healthy: true, processing, error: null };
  } catch (error) {
    return { healthy: false, processing: null, error: `engine unreachable: ${(error as Error).message}` };
  }
}

/** Polls every replica's /health and /slots (and that its pid lives) and reports into the registry. */
export class EngineMonitor {
  readonly #registry: PoolRegistry;
  readonly #agent: Dispatcher;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;

  constructor(registry: PoolRegistry, agent: Dispatcher, intervalMs: number) {
    this.#registry = registry;
    this.#agent = agent;
    this.#intervalMs = intervalMs;
  }

  /** Check one replica now (a new handoff need not wait for the next tick). */
  async check(poolId: string, replicaId: string): Promise<void> {
    const replica = this.#registry.replicas(poolId).get(replicaId);
    if (replica === undefined) return;
    const { url, pid } = replica.handoff;
    const result = await probe(this.#agent, url, pid);
    if (this.#registry.replicas(poolId).get(replicaId)?.handoff.pid === pid)
      this.#registry.observeHealth(poolId, replicaId, result);
  }

  async checkAll(): Promise<void> {
    await Promise.all(this.#registry.allReplicas().map(({ poolId, replicaId }) => this.check(poolId, replicaId)));
  }

  start(): void {
    const tick = (): void => {
      if (this.#running !== null) return;
      this.#running = this.checkAll().finally(() => {
        this.#running = null;
      });
    };
    this.#timer = setInterval(tick, this.#intervalMs);
    tick();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
