import { dirname, join } from 'node:path';
import type { PoolConfig } from '@llama-orch/contracts';
import {
  EngineProvisioner,
  estimateModelFileMemory,
  provisioningCode,
  reapStaleEngines,
  type HostFacts,
  type ProvisionTarget,
} from '@llama-orch/provisioning';
import type { Logger } from 'pino';
import { EnvHttpProxyAgent, type Dispatcher } from 'undici';
import type { PoolRegistry } from '../registry/pool-registry.ts';

/**
 * The dispatcher model downloads go through: the proxy that HTTPS_PROXY / HTTP_PROXY (and NO_PROXY) name, either
 * case, or none (undici's default, which ignores those variables).
 */
function downloadDispatcher(env: NodeJS.ProcessEnv): Dispatcher | undefined {
  const httpsProxy = env['HTTPS_PROXY'] ?? env['https_proxy'];
  const httpProxy = env['HTTP_PROXY'] ?? env['http_proxy'];
  if (!httpsProxy && !httpProxy) return undefined;
  const noProxy = env['NO_PROXY'] ?? env['no_proxy'];
  return new EnvHttpProxyAgent({
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    ...(noProxy ? { noProxy } : {}),
  });
}

/** Called once the pool's model file is in place, before its engines start (see ProvisionerOptions.beforeLaunch). */
export type BeforeLaunch = (
  pool: PoolConfig,
  modelPath: string,
  device: 'cpu' | 'cuda',
  signal: AbortSignal,
) => Promise<void>;

interface Generation {
  readonly number: number;
  readonly provisioner: EngineProvisioner;
}

/**
 * HOME profile: pool-managerd runs engine-provisioner in-process, one provisioner per pool (so a pool can be
 * drained or reloaded alone). Engines announce themselves through the watched handoff directory like any other.
 * Its progress lines carry an `event` field (`pool.build`, `pool.download`, `pool.engine`, `pool.device`) that
 * `llorch home` reads instead of their text.
 */
export class InProcessPools {
  readonly #target: ProvisionTarget;
  readonly #host: HostFacts;
  readonly #env: NodeJS.ProcessEnv;
  readonly #registry: PoolRegistry;
  readonly #log: Logger;
  readonly #current = new Map<string, Generation>();
  readonly #starting = new Set<Promise<unknown>>();
  readonly #dispatcher: Dispatcher | undefined;

  constructor(target: ProvisionTarget, host: HostFacts, env: NodeJS.ProcessEnv, registry: PoolRegistry, log: Logger) {
    this.#target = target;
    this.#host = host;
    this.#env = env;
    this.#registry = registry;
    this.#log = log;
    this.#dispatcher = downloadDispatcher(env);
  }

  pools(): readonly PoolConfig[] {
    return this.#target.pools;
  }

  #provisioner(pool: PoolConfig, generation: number, beforeLaunch?: BeforeLaunch): EngineProvisioner {
    let lastBuild = -10;
    let lastDownload = -5;
    return new EngineProvisioner(
      { ...this.#target, pools: [pool], replicaPrefix: generation === 1 ? 'r' : `g${generation}-r` },
      {
        ...(beforeLaunch === undefined ? {} : { beforeLaunch }),
        host: this.#host,
        env: this.#env,
        exclusive: false,
        logger: this.#log,
        // Per state directory: `<runtime dir>/logs/engine-<pool>-<replica>.log`, beside the handoffs' `engines/`.
        engineLogDir: join(dirname(this.#target.handoffDir), 'logs'),
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
        hfToken: this.#env['HF_TOKEN'],
        events: {
          onProgress: (phase, percent) => {
            if (percent === null || percent >= lastBuild + 10 || percent === 100) {
              lastBuild = percent ?? lastBuild;
              this.#log.info({ event: 'pool.build', pool_id: pool.id, phase, percent }, 'llama.cpp progress');
            }
          },
          onLog: (message) => this.#log.info({ event: 'pool.engine', pool_id: pool.id }, message),
          onDownload: (poolId, p) => {
            const since = this.#registry.loadProgress(poolId)?.since;
            if (since !== undefined)
              this.#registry.setLoadProgress(poolId, {
                phase: 'downloading',
                bytesDone: p.bytes,
                bytesTotal: p.total,
                waitingFor: null,
                since,
              });
            const percent = p.total === null ? null : Math.floor((p.bytes * 100) / p.total);
            if (percent !== null && percent < lastDownload + 5 && percent !== 100) return;
            lastDownload = percent ?? lastDownload;
            this.#log.info(
              {
                event: 'pool.download',
                pool_id: poolId,
                bytes: p.bytes,
                total: p.total,
                bytes_per_s: Math.round(p.bytesPerSecond),
                eta_s: p.etaSeconds === null ? null : Math.round(p.etaSeconds),
              },
              'model download',
            );
          },
          onReplica: (poolId, _replicaId, state) => {
            if (state === 'starting') this.#registry.setProvisioning(poolId, 'starting');
          },
        },
      },
    );
  }

  /** Declare every pool and start its engines in the background (the HTTP API answers meanwhile). */
  async start(): Promise<void> {
    await reapStaleEngines(
      this.#target.handoffDir,
      this.#target.pools.map((p) => p.id),
      this.#log,
    );
    for (const pool of this.#target.pools) {
      this.#registry.declare(pool.id, pool.model, pool.kind);
      const generation = { number: 1, provisioner: this.#provisioner(pool, 1) };
      this.#current.set(pool.id, generation);
      if (pool.load === 'on-demand') {
        // No engine until a task needs the model (Residency.load); the build and download happen then too.
        this.#registry.setResidency(pool.id, 'unloaded', 'loaded on demand');
        continue;
      }
      const device = generation.provisioner.plan.device;
      this.#log.info(
        {
          event: 'pool.device',
          pool_id: pool.id,
          requested: device.requested,
          device: device.chosen,
          gpus: pool.gpus ?? [],
          reason: device.reason,
        },
        `pool ${pool.id} runs on ${device.chosen}`,
      );
      // Success needs no report: the handoff the engine writes moves the pool on.
      const started = generation.provisioner.start().catch((error: Error) => {
        if (provisioningCode(error) === 'PROV_STOPPED') {
          this.#log.info({ pool_id: pool.id }, 'pool start cancelled by a stop');
          return;
        }
        this.#log.error({ pool_id: pool.id, err: error }, 'pool failed to start');
        this.#registry.setProvisioning(pool.id, 'failed', error.message);
      });
      this.#starting.add(started);
      void started.finally(() => this.#starting.delete(started));
    }
  }

  /** The pool as it is served now: its config, with the model of the last reload. */
  poolConfig(poolId: string): PoolConfig | undefined {
    return this.#current.get(poolId)?.provisioner.target.pools[0];
  }

  /** Where the pool's model file is (or will be, once fetched), and the device its engines run on. */
  placement(poolId: string): { modelPath: string; device: 'cpu' | 'cuda' } | undefined {
    const plan = this.#current.get(poolId)?.provisioner.plan;
    const model = plan?.pools[0]?.model;
    return plan === undefined || model === undefined
      ? undefined
      : { modelPath: model.path, device: plan.device.chosen };
  }

  /**
   * Start the engines of a pool loaded on demand (its last ones were stopped): a new provisioner of the same
   * generation, so the replica ids stay. Resolves once they are healthy; `beforeLaunch` runs once its model file is
   * in place. Throws what the start threw (a stop cancels it with PROV_STOPPED).
   */
  async load(poolId: string, beforeLaunch: BeforeLaunch): Promise<void> {
    const current = this.#current.get(poolId);
    const pool = current?.provisioner.target.pools[0];
    if (current === undefined || pool === undefined) throw new Error(`pool ${poolId} is not run by this pool-managerd`);
    await current.provisioner.stop();
    const next = { number: current.number, provisioner: this.#provisioner(pool, current.number, beforeLaunch) };
    this.#current.set(poolId, next);
    const started = next.provisioner.start();
    this.#starting.add(started);
    try {
      await started;
    } finally {
      this.#starting.delete(started);
    }
  }

  /** The memory one engine generation of the pool would hold with this model file (all replicas), when known. */
  async estimate(poolId: string, modelPath: string): Promise<number | null> {
    const pool = this.poolConfig(poolId);
    const where = this.placement(poolId);
    if (pool === undefined || where === undefined) return null;
    const one = await estimateModelFileMemory({
      modelPath,
      ctx: pool.ctx,
      slots: pool.slots,
      device: where.device,
      ...(pool.kind === undefined ? {} : { kind: pool.kind }),
    });
    return one === null ? null : one.totalBytes * pool.replicas;
  }

  /** Stop a pool's engines (a drain that ended): their handoffs go away with them. */
  async stopPool(poolId: string): Promise<void> {
    await this.#current.get(poolId)?.provisioner.stop();
  }

  /**
   * Start the pool's new model as a new generation of replicas. On success the old generation is stopped and
   * the new replica ids are returned; on failure the new generation is stopped and the error is thrown.
   */
  async startGeneration(
    poolId: string,
    model: string,
    sha256: string | undefined,
    beforeLaunch?: BeforeLaunch,
  ): Promise<{ replicaIds: string[]; commit: () => Promise<void>; abandon: () => Promise<void> }> {
    const old = this.#current.get(poolId);
    const config = this.#target.pools.find((p) => p.id === poolId);
    if (old === undefined || config === undefined) throw new Error(`pool ${poolId} is not run by this pool-managerd`);
    const { sha256: _old, ...rest } = config;
    const pool: PoolConfig = sha256 === undefined ? { ...rest, model } : { ...rest, model, sha256 };
    const next = { number: old.number + 1, provisioner: this.#provisioner(pool, old.number + 1, beforeLaunch) };
    try {
      await next.provisioner.start();
    } catch (error) {
      await next.provisioner.stop();
      throw error;
    }
    return {
      replicaIds: next.provisioner.replicas.map((_, i) => `g${next.number}-r${i}`),
      commit: async () => {
        this.#current.set(poolId, next);
        await old.provisioner.stop();
      },
      abandon: () => next.provisioner.stop(),
    };
  }

  /** Stop every engine, those still starting included (their start is cancelled). */
  async stop(): Promise<void> {
    await Promise.all([...this.#current.values()].map((g) => g.provisioner.stop()));
    await Promise.allSettled([...this.#starting]);
    await this.#dispatcher?.close();
  }
}
