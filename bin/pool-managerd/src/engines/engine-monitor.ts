import { Periodic, type LifecycleLog } from '@llama-orch/lifecycle';
import type { Handoff } from '@llama-orch/contracts';
import type { Dispatcher } from 'undici';
import type { PoolRegistry } from '../registry/pool-registry.ts';
import { engineRequest } from './engine-agent.ts';
import { engineIdentityProblem } from './engine-identity.ts';

/** How a health check ended: `ok`, `unhealthy` (/health answered non-200), `unreachable`, `gone` (no process). */
export type HealthOutcome = 'ok' | 'unhealthy' | 'unreachable' | 'gone';

export interface HealthObservation {
  readonly healthy: boolean;
  readonly error: string | null;
  readonly outcome: HealthOutcome;
}

/** One finished check of one replica, reported after the registry took it. */
export type HealthCheckObserver = (check: {
  readonly poolId: string;
  readonly handoff: Handoff;
  readonly observation: HealthObservation;
  readonly durationMs: number;
}) => void;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Is the engine's process alive and does its /health answer 200? */
export async function probeEngine(agent: Dispatcher, url: string, pid: number): Promise<HealthObservation> {
  if (!pidAlive(pid)) return { healthy: false, error: `engine process ${pid} is gone`, outcome: 'gone' };
  try {
    const health = await engineRequest(agent, `${url}/health`, { method: 'GET', timeoutMs: 2_000 });
    const body = await health.body.text();
    if (health.statusCode === 200) return { healthy: true, error: null, outcome: 'ok' };
    return {
      healthy: false,
      error: `engine /health answered ${health.statusCode}${body ? `: ${body.slice(0, 120)}` : ''}`,
      outcome: 'unhealthy',
    };
  } catch (error) {
    return { healthy: false, error: `engine unreachable: ${(error as Error).message}`, outcome: 'unreachable' };
  }
}

/**
 * Checks every replica's /health (and that its pid lives) each interval and reports into the registry. The first
 * time a handoff's engine answers, its pid must also be a llama-server listening on the handoff's port
 * (engine-identity.ts); until it is, the replica stays unhealthy with the reason.
 */
export class EngineMonitor {
  readonly #registry: PoolRegistry;
  readonly #agent: Dispatcher;
  readonly #loop: Periodic;
  readonly #observe: HealthCheckObserver;
  /** `pool/replica` → the `pid url` of its handoff whose identity was confirmed. */
  readonly #confirmed = new Map<string, string>();
  /** `pool/replica` → since when its confirmed engine, still alive, has not answered /health. */
  readonly #silentSince = new Map<string, number>();
  readonly #hungAfterMs: number;
  readonly #log: LifecycleLog;

  constructor(
    registry: PoolRegistry,
    agent: Dispatcher,
    intervalMs: number,
    log: LifecycleLog,
    observe: HealthCheckObserver = () => undefined,
    hungAfterMs = 30_000,
  ) {
    this.#hungAfterMs = hungAfterMs;
    this.#log = log;
    this.#registry = registry;
    this.#agent = agent;
    this.#observe = observe;
    this.#loop = new Periodic({ name: 'engine health', intervalMs, tick: () => this.checkAll(), log });
  }

  /** Check one replica now (a new handoff need not wait for the next tick). */
  async check(poolId: string, replicaId: string): Promise<void> {
    const replica = this.#registry.replicas(poolId).get(replicaId);
    if (replica === undefined) return;
    const { url, pid } = replica.handoff;
    const began = performance.now();
    const result = await this.#confirmIdentity(
      `${poolId}/${replicaId}`,
      pid,
      url,
      await probeEngine(this.#agent, url, pid),
    );
    if (this.#registry.replicas(poolId).get(replicaId)?.handoff.pid !== pid) return;
    this.#killIfHung(`${poolId}/${replicaId}`, pid, url, result);
    this.#registry.observeHealth(poolId, replicaId, result);
    this.#observe({ poolId, handoff: replica.handoff, observation: result, durationMs: performance.now() - began });
  }

  /**
   * An engine whose process lives but has not answered /health for the hung time (stopped, deadlocked) is killed,
   * so its supervisor (the in-process provisioner, or engine-provisioner beside this daemon) starts it again. Only
   * a pid confirmed to be this handoff's llama-server is ever signalled.
   */
  #killIfHung(key: string, pid: number, url: string, result: HealthObservation): void {
    if (result.outcome !== 'unreachable' || this.#confirmed.get(key) !== `${pid} ${url}`) {
      this.#silentSince.delete(key);
      return;
    }
    const since = this.#silentSince.get(key) ?? Date.now();
    this.#silentSince.set(key, since);
    if (Date.now() - since < this.#hungAfterMs) return;
    this.#silentSince.delete(key);
    try {
      process.kill(pid, 'SIGKILL');
      this.#log.warn(
        { replica: key, pid, silent_ms: Date.now() - since, reason: result.error },
        'engine hung: killed so that it is restarted',
      );
    } catch (error) {
      this.#log.warn({ replica: key, pid, err: error }, 'engine hung, and could not be killed');
    }
  }

  /** A healthy answer counts only from the engine the handoff names (checked once per handoff pid and url). */
  async #confirmIdentity(key: string, pid: number, url: string, result: HealthObservation): Promise<HealthObservation> {
    if (!result.healthy || this.#confirmed.get(key) === `${pid} ${url}`) return result;
    const problem = await engineIdentityProblem(pid, url);
    if (problem !== null) return { healthy: false, error: problem, outcome: 'unhealthy' };
    this.#confirmed.set(key, `${pid} ${url}`);
    return result;
  }

  async checkAll(): Promise<void> {
    const current = new Set(this.#registry.allReplicas().map(({ poolId, replicaId }) => `${poolId}/${replicaId}`));
    for (const known of [this.#confirmed, this.#silentSince])
      for (const key of known.keys()) if (!current.has(key)) known.delete(key);
    await Promise.all(this.#registry.allReplicas().map(({ poolId, replicaId }) => this.check(poolId, replicaId)));
  }

  /** Start the loop; the first round runs now but start-up does not wait for it. */
  async start(): Promise<void> {
    await this.#loop.start(false);
    void this.#loop.trigger();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }
}
