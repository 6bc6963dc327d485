import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_ENGINE_SOURCE,
  HANDOFF_SCHEMA_VERSION,
  parseEngineSource,
  type PoolConfig,
} from '@llama-orch/contracts';
import type { Dispatcher } from 'undici';
import { ensureEngine, StoppedError, type EngineBinary, type EngineEvents } from './engine/ensure-engine.ts';
import { claimHandoffDir } from './launch/instance-lock.ts';
import { sourceLayout } from './engine/source-layout.ts';
import type { HostFacts } from './host/host-facts.ts';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './launch/backoff.ts';
import { reapStaleEngines } from './launch/reap-stale.ts';
import { ReplicaSupervisor, type ReplicaState } from './launch/replica-supervisor.ts';
import { silentLogger, type Logger } from './logger.ts';
import { ProvisioningError } from './errors.ts';
import type { DownloadProgress } from './model/download.ts';
import { ensureModel } from './model/ensure-model.ts';
import type { Finding } from './plan/device.ts';
import { buildPlan, type Plan, type ProvisionTarget } from './plan/plan.ts';
import { ensureSourceTree } from './engine/ensure-engine.ts';

export interface ProvisionerOptions {
  readonly host: HostFacts;
  /** Environment the engines start from. */
  readonly env: NodeJS.ProcessEnv;
  readonly logger?: Logger;
  readonly pools?: readonly string[];
  readonly backoff?: BackoffPolicy;
  readonly healthTimeoutMs?: number;
  readonly stopGraceMs?: number;
  readonly dispatcher?: Dispatcher;
  readonly hfToken?: string | undefined;
  /** Hold the handoff directory for this provisioner alone (default); false when an owner such as pool-managerd holds it. */
  readonly exclusive?: boolean;
  /** Engine logs as `<dir>/engine-<pool>-<replica>.log` (default `<cache>/logs/engine-<node>-<pool>-<replica>.log`). */
  readonly engineLogDir?: string;
  /**
   * Called once a pool's model file is in place, before its engines start: pool-managerd checks there the memory the
   * engines will hold (and makes room, or throws to refuse the start).
   */
  readonly beforeLaunch?: (
    pool: PoolConfig,
    modelPath: string,
    device: 'cpu' | 'cuda',
    /** Aborted when the provisioner is stopped meanwhile: a wait inside should give up. */
    signal: AbortSignal,
  ) => Promise<void>;
  readonly events?: EngineEvents & {
    readonly onDownload?: (poolId: string, progress: DownloadProgress) => void;
    readonly onReplica?: (poolId: string, replicaId: string, state: ReplicaState) => void;
  };
}

/** Refused before anything runs: the plan has error findings (missing tools, incomplete CUDA, …). */
export class PlanRefusedError extends ProvisioningError {
  /** The error findings, each with its stable code (CMAKE_MISSING, CUBLAS_MISSING, …); logged as `err.findings`. */
  readonly findings: readonly Finding[];
  readonly #plan: Plan;

  constructor(plan: Plan) {
    const findings = plan.findings.filter((f) => f.level === 'error');
    super('PROV_PLAN_REFUSED', `cannot provision: ${findings.map((f) => f.message).join('; ')}`);
    this.name = 'PlanRefusedError';
    this.findings = findings;
    this.#plan = plan;
  }

  /** The whole plan (an accessor, so that a logged error carries its findings and not every step). */
  get plan(): Plan {
    return this.#plan;
  }
}

export type ProvisionerState = 'idle' | 'preparing' | 'running' | 'stopping' | 'stopped' | 'failed';

/** engine-provisioner as a service: ensure the engine and models, keep every replica of the node running. */
export class EngineProvisioner {
  readonly plan: Plan;
  #state: ProvisionerState = 'idle';
  #replicas: ReplicaSupervisor[] = [];
  #engine: EngineBinary | null = null;
  readonly #logger: Logger;
  readonly #abort = new AbortController();
  #starting: Promise<void> | null = null;
  #releaseInstance: (() => Promise<void>) | null = null;

  readonly target: ProvisionTarget;
  private readonly options: ProvisionerOptions;

  constructor(target: ProvisionTarget, options: ProvisionerOptions) {
    this.target = target;
    this.options = options;
    this.plan = buildPlan(target, options.host, options.pools);
    this.#logger = options.logger ?? silentLogger;
  }

  get state(): ProvisionerState {
    return this.#state;
  }
  get engine(): EngineBinary | null {
    return this.#engine;
  }
  get replicas(): readonly ReplicaSupervisor[] {
    return this.#replicas;
  }

  /** Resolves once every replica is healthy; rejects with the first failure (or StoppedError after stop()). */
  start(): Promise<void> {
    if (this.#state !== 'idle') return Promise.reject(new Error(`provisioner already ${this.#state}`));
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.plan.findings.some((f) => f.level === 'error')) {
      this.#state = 'failed';
      throw new PlanRefusedError(this.plan);
    }
    this.#state = 'preparing';
    const { target, plan } = this;
    const { host } = this.options;
    const signal = this.#abort.signal;
    const checkpoint = (what: string): void => {
      if (signal.aborted) throw new StoppedError(what);
    };
    try {
      if (this.options.exclusive !== false) this.#releaseInstance = await claimHandoffDir(target.handoffDir);
      for (const finding of plan.findings)
        this.#logger.info({ code: finding.code, level: finding.level }, finding.message);
      this.#logger.info({ device: plan.device.chosen }, plan.device.reason);
      const engine = await ensureEngine(plan, target.cacheDir, host, { ...this.options.events, signal });
      this.#engine = engine;
      if (this.options.exclusive !== false)
        await reapStaleEngines(
          target.handoffDir,
          plan.pools.map((p) => p.pool.id),
          this.#logger,
        );

      for (const { pool, model: location, replicas } of plan.pools) {
        checkpoint(`the model of pool ${pool.id}`);
        const model = await ensureModel(location, {
          signal,
          expectedSha256: pool.sha256,
          vocabSourceDir: () => this.#vocabularySource(),
          ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
          onProgress: (progress) => this.options.events?.onDownload?.(pool.id, progress),
          authToken: this.options.hfToken,
        });
        await this.options.beforeLaunch?.(pool, model.path, plan.device.chosen, signal);
        checkpoint(`the engines of pool ${pool.id}`);
        const slotSavePath = join(target.cacheDir, 'slots');
        const threads = cpuThreads(plan.device.chosen, host.cpuCount, target.pools);
        await mkdir(slotSavePath, { recursive: true });
        for (const { replicaId } of replicas) {
          const replica = new ReplicaSupervisor({
            poolId: pool.id,
            replicaId,
            launch: {
              binary: engine.path,
              modelPath: model.path,
              ctx: pool.ctx,
              slots: pool.slots,
              device: plan.device.chosen,
              gpus: pool.gpus ?? [],
              kind: pool.kind,
              pooling: pool.pooling,
              slotSavePath,
              threads,
            },
            handoffDir: target.handoffDir,
            logFile:
              this.options.engineLogDir === undefined
                ? join(target.cacheDir, 'logs', `engine-${target.nodeId}-${pool.id}-${replicaId}.log`)
                : join(this.options.engineLogDir, `engine-${pool.id}-${replicaId}.log`),
            handoff: {
              schema_version: HANDOFF_SCHEMA_VERSION,
              pool_id: pool.id,
              replica_id: replicaId,
              engine: 'llamacpp',
              engine_version: `${engine.version}-${plan.device.chosen}`,
              provisioning_mode: plan.source.mode,
              model: { ref: pool.model, path: model.path, sha256: model.sha256 },
              kind: pool.kind ?? 'completion',
              ctx: pool.ctx,
              slots_total: pool.slots,
              device: plan.device.chosen,
              gpus: plan.device.chosen === 'cuda' ? [...(pool.gpus ?? [])] : [],
            },
            backoff: this.options.backoff ?? DEFAULT_BACKOFF,
            healthTimeoutMs: this.options.healthTimeoutMs ?? 120_000,
            stopGraceMs: this.options.stopGraceMs ?? 5_000,
            baseEnv: this.options.env,
            logger: this.#logger,
            onStateChange: (state) => this.options.events?.onReplica?.(pool.id, replicaId, state),
          });
          checkpoint(`the start of ${pool.id}-${replicaId}`);
          this.#replicas.push(replica);
          await replica.start();
        }
      }
      checkpoint('start-up');
      this.#state = 'running';
    } catch (error) {
      await this.#stopReplicas();
      await this.#release();
      this.#state = signal.aborted ? 'stopped' : 'failed';
      throw signal.aborted && !(error instanceof StoppedError) ? new StoppedError('start-up') : error;
    }
  }

  async #release(): Promise<void> {
    const release = this.#releaseInstance;
    this.#releaseInstance = null;
    await release?.().catch(() => undefined);
  }

  /** The llama.cpp tree whose vocabulary the demo model uses (the default npm source for binary engines). */
  async #vocabularySource(): Promise<string> {
    if (this.plan.source.sourceDir !== null) return this.plan.source.sourceDir;
    const fallback = parseEngineSource(DEFAULT_ENGINE_SOURCE);
    if (!fallback.ok) throw new Error(fallback.message);
    const layout = sourceLayout(fallback.value, this.target.cacheDir);
    await ensureSourceTree(layout, this.target.cacheDir, this.#abort.signal);
    return layout.sourceDir ?? '';
  }

  async #stopReplicas(): Promise<void> {
    await Promise.all(this.#replicas.map((r) => r.stop()));
  }

  /** Stop every engine gracefully (SIGTERM, then SIGKILL after the grace period) and remove the handoffs. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping' || this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'preparing') {
      // Replicas stopped now give up an engine start in flight instead of waiting for its /health.
      this.#abort.abort();
      await Promise.all([this.#starting?.catch(() => undefined), this.#stopReplicas()]);
      return;
    }
    this.#state = 'stopping';
    await this.#stopReplicas();
    await this.#release();
    this.#state = 'stopped';
  }
}

/**
 * Each CPU engine's share of the node's cores: every replica of every pool this node is configured with may run at
 * once, and ggml's threads spin while they wait, so engines that each take every core slow one another down many times
 * over (measured: 8 conversations on 2 replicas of 2 slots, 2 cores, took 10× longer to first token than on 1
 * replica of 4 slots). Undefined (llama-server's default, every core) for one engine, or on a GPU.
 */
export function cpuThreads(
  device: 'cpu' | 'cuda',
  cores: number,
  pools: readonly { readonly replicas: number }[],
): number | undefined {
  const engines = pools.reduce((sum, pool) => sum + pool.replicas, 0);
  if (device !== 'cpu' || engines <= 1) return undefined;
  return Math.max(1, Math.floor(cores / engines));
}
