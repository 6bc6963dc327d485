import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { mtlsAgent } from '@llama-orch/tls';
import { StopStack } from '@llama-orch/lifecycle';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Agent, type Dispatcher } from 'undici';
import type { OrchestratordConfig } from './config.ts';
import { createApp } from './http/app.ts';
import { createMetrics } from './metrics.ts';
import { PoolPoller } from './pools/pool-poller.ts';
import { Scheduler } from './tasks/scheduler.ts';
import { SessionStore } from './tasks/sessions.ts';

export type OrchestratorState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** orchestratord as one service: pool poller, scheduler and the HTTP API. */
export class Orchestrator {
  readonly #config: OrchestratordConfig;
  readonly #log: Logger;
  readonly #metrics: Registry;
  readonly #version: string;
  #state: OrchestratorState = 'idle';
  readonly #stops: StopStack;
  #address: AddressInfo | null = null;

  constructor(config: OrchestratordConfig, log: Logger, metrics: Registry, version: string) {
    this.#config = config;
    this.#log = log;
    this.#stops = new StopStack(log);
    this.#metrics = metrics;
    this.#version = version;
  }

  get state(): OrchestratorState {
    return this.#state;
  }
  get address(): AddressInfo | null {
    return this.#address;
  }

  #setState(state: OrchestratorState): void {
    this.#state = state;
    this.#log.info({ state }, `orchestratord ${state}`);
  }

  async start(): Promise<void> {
    this.#setState('starting');
    const config = this.#config;
    const agent: Dispatcher =
      config.tls === null ? new Agent({ keepAliveTimeout: 4_000 }) : await mtlsAgent(config.tls);
    this.#stops.push(() => agent.close());
    const metrics = createMetrics(this.#metrics);
    const sessions = new SessionStore();
    let scheduler: Scheduler | null = null;
    const poller = new PoolPoller(config.poolManagers, agent, {
      intervalMs: config.pollIntervalMs,
      timeoutMs: config.poolRequestTimeoutMs,
      log: this.#log,
      onChange: () => scheduler?.pump(),
      leases: (poolId) => scheduler?.leases(poolId) ?? 0,
    });
    scheduler = new Scheduler({
      capacity: config.admissionCapacity,
      policy: config.admissionPolicy,
      poller,
      agent,
      sessions,
      metrics,
      log: this.#log,
      retries: config.dispatchRetries,
    });
    const tasks = scheduler;
    await poller.pollOnce();
    poller.start();
    this.#stops.push(() => poller.stop());
    this.#stops.push(() => tasks.stop());

    const app = createApp({
      scheduler,
      poller,
      sessions,
      agent,
      metrics: this.#metrics,
      log: this.#log,
      version: this.#version,
      apiKeys: config.apiKeys,
      poolRequestTimeoutMs: config.poolRequestTimeoutMs,
    });
    const server: ServerType = await new Promise((resolveListen, reject) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolveListen(s));
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
    this.#log.info(
      {
        url: `http://${config.host}:${this.#address.port}`,
        pool_managers: config.poolManagers,
        profile: config.profile,
        mtls: config.tls !== null,
        api_keys: config.apiKeys.length,
      },
      'orchestratord listening',
    );
    this.#setState('running');
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#setState('stopping');
    await this.#stops.unwind();
    this.#setState('stopped');
  }
}
