import type { Handoff } from '@llama-orch/contracts';
import { StoppedError } from '../engine/ensure-engine.ts';
import { provisioningCode, type ProvisioningErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { isStorm, restartDelay, type BackoffPolicy } from './backoff.ts';
import { startEngine, stopEngine, type StartedEngine } from './engine-process.ts';
import { freePort } from './free-port.ts';
import { removeHandoff, writeHandoff } from './handoff-file.ts';
import { llamaServerCommand, type LaunchSpec } from './llama-server-args.ts';
import type { LogRotation } from './rotating-file.ts';

export type ReplicaState = 'idle' | 'starting' | 'running' | 'backoff' | 'failed' | 'stopping' | 'stopped';

/** What a state change tells: the engine's pid, or why it failed (the message and its stable code). */
export interface ReplicaDetail {
  readonly pid?: number;
  readonly error?: string;
  readonly code?: ProvisioningErrorCode;
}

/** The message and code of a failure, as a state change's detail. */
function failure(error: unknown): ReplicaDetail {
  const code = provisioningCode(error);
  return { error: (error as Error).message, ...(code === null ? {} : { code }) };
}

export interface ReplicaOptions {
  readonly poolId: string;
  readonly replicaId: string;
  readonly launch: LaunchSpec;
  readonly handoffDir: string;
  readonly logFile: string;
  readonly logRotation?: LogRotation;
  /** Handoff fields that do not change between restarts. */
  readonly handoff: Omit<Handoff, 'url' | 'pid' | 'flags' | 'started_at'>;
  readonly backoff: BackoffPolicy;
  readonly healthTimeoutMs: number;
  readonly stopGraceMs: number;
  readonly baseEnv: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly onStateChange?: (state: ReplicaState, detail: ReplicaDetail) => void;
}

/**
 * Keeps one llama-server replica running: start, wait for /health, write the handoff; restart with
 * backoff when it exits; give up on a restart storm; remove the handoff when stopped on purpose. A stop while an
 * engine is starting (the first start or a restart) kills that engine at once instead of waiting for its /health.
 */
export class ReplicaSupervisor {
  #state: ReplicaState = 'idle';
  #engine: StartedEngine | null = null;
  #restarts: number[] = [];
  #consecutive = 0;
  #stopping = false;
  readonly #abort = new AbortController();
  #starting: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #lastError: string | null = null;

  private readonly options: ReplicaOptions;

  constructor(options: ReplicaOptions) {
    this.options = options;
  }

  get state(): ReplicaState {
    return this.#state;
  }
  get pid(): number | null {
    return this.#engine?.pid ?? null;
  }
  get lastError(): string | null {
    return this.#lastError;
  }

  #set(state: ReplicaState, detail: ReplicaDetail = {}): void {
    this.#state = state;
    const { poolId, replicaId } = this.options;
    this.options.logger.info(
      { pool_id: poolId, replica_id: replicaId, state, ...detail },
      `replica ${poolId}-${replicaId} ${state}`,
    );
    this.options.onStateChange?.(state, detail);
  }

  async #launch(): Promise<StartedEngine> {
    const port = await freePort();
    const command = llamaServerCommand(this.options.launch, port);
    const engine = await startEngine({
      argv: command.argv,
      env: command.env,
      port,
      logFile: this.options.logFile,
      ...(this.options.logRotation ? { logRotation: this.options.logRotation } : {}),
      signal: this.#abort.signal,
      healthTimeoutMs: this.options.healthTimeoutMs,
      baseEnv: this.options.baseEnv,
    });
    await writeHandoff(this.options.handoffDir, {
      ...this.options.handoff,
      url: engine.url,
      pid: engine.pid,
      flags: command.argv.slice(1),
      started_at: new Date().toISOString(),
    });
    return engine;
  }

  /**
   * Start the engine; resolves once it is healthy and its handoff is written, rejects if the first start fails
   * (with StoppedError when stop() cancelled it).
   */
  start(): Promise<void> {
    if (this.#state !== 'idle') return Promise.reject(new Error(`replica already ${this.#state}`));
    this.#set('starting');
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    try {
      this.#engine = await this.#launch();
    } catch (error) {
      if (this.#stopping) throw new StoppedError(`the start of ${this.options.poolId}-${this.options.replicaId}`);
      this.#lastError = (error as Error).message;
      this.#set('failed', failure(error));
      throw error;
    }
    // A stop that came while the handoff was written takes the engine down itself.
    if (this.#stopping) return;
    this.#set('running', { pid: this.#engine.pid });
    this.#loop = this.#supervise();
  }

  async #supervise(): Promise<void> {
    const { logger, poolId, replicaId, backoff } = this.options;
    while (!this.#stopping && this.#engine !== null) {
      const startedAt = Date.now();
      const status = await this.#engine.exited;
      if (this.#stopping) return;
      if (Date.now() - startedAt > backoff.stormWindowMs) this.#consecutive = 0;
      logger.warn(
        { pool_id: poolId, replica_id: replicaId, exit_code: status.code, signal: status.signal },
        'engine exited; restarting',
      );
      for (;;) {
        const now = Date.now();
        if (isStorm(backoff, this.#restarts, now)) {
          this.#lastError = `restart storm: ${backoff.stormRestarts} restarts within ${backoff.stormWindowMs} ms`;
          this.#engine = null;
          await removeHandoff(this.options.handoffDir, poolId, replicaId);
          this.#set('failed', { error: this.#lastError, code: 'PROV_RESTART_STORM' });
          return;
        }
        this.#consecutive += 1;
        this.#restarts.push(now);
        const delay = restartDelay(backoff, this.#consecutive);
        this.#set('backoff', { error: `restart in ${delay} ms` });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = null;
        if (this.#stopping) return;
        this.#set('starting');
        try {
          this.#engine = await this.#launch();
          if (this.#stopping) return;
          this.#set('running', { pid: this.#engine.pid });
          break;
        } catch (error) {
          if (this.#stopping) return;
          this.#lastError = (error as Error).message;
          logger.error({ pool_id: poolId, replica_id: replicaId, ...failure(error) }, 'engine restart failed');
        }
      }
    }
  }

  /**
   * Stop on purpose: an engine still starting is killed, a running one gets SIGTERM and SIGKILL after the grace
   * period, and the handoff is removed. Idempotent: later calls wait for the first.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#stopping = true;
    this.#abort.abort();
    this.#wake?.();
    this.#set('stopping');
    await this.#starting?.catch(() => undefined);
    if (this.#engine !== null) await stopEngine(this.#engine, this.options.stopGraceMs);
    await this.#loop;
    // A restart that finished while the loop was told to stop.
    if (this.#engine !== null) await stopEngine(this.#engine, this.options.stopGraceMs);
    await removeHandoff(this.options.handoffDir, this.options.poolId, this.options.replicaId);
    this.#set('stopped');
  }
}
