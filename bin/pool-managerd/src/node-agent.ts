import { mkdir } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { loadNodeConfig, nodeIdFromHostname } from '@llama-orch/config';
import { claimHandoffDir, DEFAULT_HF_ENDPOINT, detectHostFacts } from '@llama-orch/provisioning';
import { serverTlsOptions } from '@llama-orch/tls';
import { StopStack } from '@llama-orch/lifecycle';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Agent } from 'undici';
import type { PoolManagerdConfig } from './config.ts';
import { PoolControl } from './control/pool-control.ts';
import { PoolDispatcher } from './control/dispatcher.ts';
import { engineAgent } from './engines/engine-agent.ts';
import { EngineMonitor } from './engines/engine-monitor.ts';
import { GpuDiscovery } from './gpu/gpu-discovery.ts';
import { createApp } from './http/app.ts';
import { createMetrics } from './metrics.ts';
import { InProcessPools } from './provisioning/in-process-pools.ts';
import { PoolRegistry } from './registry/pool-registry.ts';
import { HandoffWatcher } from './watcher/handoff-watcher.ts';

export type AgentState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** pool-managerd as one service: watcher, monitor, GPU discovery, optional in-process engines, HTTP API. */
export class NodeAgent {
  readonly #config: PoolManagerdConfig;
  readonly #log: Logger;
  readonly #metrics: Registry;
  readonly #version: string;
  #state: AgentState = 'idle';
  readonly #stops: StopStack;
  #address: AddressInfo | null = null;

  constructor(config: PoolManagerdConfig, log: Logger, metrics: Registry, version: string) {
    this.#config = config;
    this.#log = log;
    this.#stops = new StopStack(log);
    this.#metrics = metrics;
    this.#version = version;
  }

  get state(): AgentState {
    return this.#state;
  }

  get address(): AddressInfo | null {
    return this.#address;
  }

  #setState(state: AgentState): void {
    this.#state = state;
    this.#log.info({ state }, `pool-managerd ${state}`);
  }

  async start(): Promise<void> {
    this.#setState('starting');
    const config = this.#config;
    const poolConfig = config.poolConfigFile === undefined ? null : await loadNodeConfig(config.poolConfigFile);
    if (poolConfig !== null && !poolConfig.ok) throw new Error(poolConfig.message);
    const node = poolConfig?.value ?? null;
    const runtimeDir =
      config.runtimeDir !== undefined
        ? resolve(config.runtimeDir)
        : (node?.runtime_dir ?? join(homedir(), '.local', 'state', 'llama-orch'));
    const handoffDir = join(runtimeDir, 'engines');
    await mkdir(handoffDir, { recursive: true });
    const nodeId = config.nodeId ?? node?.node_id ?? nodeIdFromHostname(hostname());

    const registry = new PoolRegistry(nodeId, (change) =>
      this.#log.info(
        { pool_id: change.poolId, from: change.from, to: change.to, reason: change.reason },
        `pool ${change.poolId} ${change.from} → ${change.to}`,
      ),
    );
    const metrics = createMetrics(this.#metrics, registry);
    const agent: Agent = engineAgent();
    this.#stops.push(() => agent.close());
    const monitor = new EngineMonitor(registry, agent, config.healthIntervalMs);

    const watcher = new HandoffWatcher(
      handoffDir,
      config.watchIntervalMs,
      {
        upsert: (handoff) => {
          const { restarted } = registry.upsertReplica(handoff);
          if (restarted) metrics.engineRestarts.inc({ pool_id: handoff.pool_id });
          void monitor.check(handoff.pool_id, handoff.replica_id);
        },
        remove: (poolId, replicaId, file) => registry.removeReplica(poolId, replicaId, `handoff ${file} removed`),
        processed: (outcome) => metrics.handoffFiles.inc({ outcome }),
      },
      this.#log,
    );

    let inProcess: InProcessPools | null = null;
    if (node !== null) {
      this.#stops.push(await claimHandoffDir(handoffDir));
      const host = await detectHostFacts(config.env);
      inProcess = new InProcessPools(
        {
          nodeId,
          cacheDir: config.cacheDir !== undefined ? resolve(config.cacheDir) : node.cache_dir,
          handoffDir,
          engine: node.engine,
          pools: node.pools,
          hfEndpoint: config.env['HF_ENDPOINT'] ?? DEFAULT_HF_ENDPOINT,
        },
        host,
        config.env,
        registry,
        this.#log,
      );
    }
    const dispatcher = new PoolDispatcher(registry, agent, metrics, this.#log);
    const control = new PoolControl(registry, dispatcher, inProcess, this.#log);
    const gpus = new GpuDiscovery(
      config.env,
      config.gpuDiscoveryIntervalMs,
      (list) => registry.setGpus(list),
      this.#log,
    );

    await gpus.start();
    this.#stops.push(() => gpus.stop());
    await watcher.start();
    this.#stops.push(() => watcher.stop());
    monitor.start();
    this.#stops.push(() => monitor.stop());

    const app = createApp({
      registry,
      dispatcher,
      control,
      metrics: this.#metrics,
      log: this.#log,
      version: this.#version,
    });
    const tls = config.tls === null ? null : await serverTlsOptions(config.tls);
    const server: ServerType = await new Promise((resolveListen, reject) => {
      const s = serve(
        {
          fetch: app.fetch,
          hostname: config.host,
          port: config.port,
          ...(tls === null ? {} : { createServer: createHttpsServer, serverOptions: tls }),
        },
        () => resolveListen(s),
      );
      s.once('error', reject);
    });
    this.#address = server.address() as AddressInfo;
    this.#stops.push(
      () =>
        new Promise<void>((resolveClose) => {
          server.close(() => resolveClose());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    );
    if (inProcess !== null) {
      const pools = inProcess;
      await pools.start();
      this.#stops.push(() => pools.stop());
    }
    this.#log.info(
      {
        node_id: nodeId,
        handoff_dir: handoffDir,
        url: `${tls ? 'https' : 'http'}://${config.host}:${this.#address.port}`,
        mtls: config.tls?.caFile !== undefined,
        in_process: inProcess !== null,
      },
      'pool-managerd listening',
    );
    this.#setState('running');
  }

  /** Stop everything in reverse order of start; idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#setState('stopping');
    await this.#stops.unwind();
    this.#setState('stopped');
  }
}
