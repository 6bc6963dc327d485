import { serveHttp, type HttpServer } from '@llama-orch/http';
import { ServiceHost, type ServiceState } from '@llama-orch/lifecycle';
import { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { OrchestratordConfig } from './config.ts';
import { createApp } from './http/app.ts';
import { createMetrics } from './metrics.ts';
import { PoolPoller } from './pools/pool-poller.ts';
import { SlotLedger } from './slots/slot-ledger.ts';
import { Scheduler } from './tasks/scheduler.ts';
import { SessionStore } from './tasks/sessions.ts';

/** How long open streams get to finish on shutdown before their sockets are cut. */
const SHUTDOWN_GRACE_MS = 5_000;

/** orchestratord as one service: pool poller, scheduler and the HTTP API. */
export class Orchestrator {
  readonly #host: ServiceHost;
  #server: HttpServer | null = null;

  constructor(config: OrchestratordConfig, log: Logger, metrics: Registry, version: string) {
    this.#host = new ServiceHost('orchestratord', log, async (scope) => {
      const client = await PoolManagerdClient.create({
        tls: config.tls,
        requestTimeoutMs: config.poolRequestTimeoutMs,
      });
      scope.defer(() => client.close());
      const ledger = new SlotLedger();
      const sessions = new SessionStore();
      let scheduler: Scheduler | null = null;
      const poller = new PoolPoller(config.poolManagers, client, ledger, {
        intervalMs: config.pollIntervalMs,
        log,
        onChange: () => scheduler?.pump(),
      });
      const tasks = new Scheduler({
        capacity: config.admissionCapacity,
        policy: config.admissionPolicy,
        poller,
        client,
        ledger,
        sessions,
        metrics: createMetrics(metrics),
        log,
        retries: config.dispatchRetries,
        poolWaitMs: config.poolWaitMs,
        reconnectGraceMs: config.reconnectGraceMs,
      });
      scheduler = tasks;
      await poller.start();
      scope.defer(() => poller.stop());
      const app = createApp({
        scheduler: tasks,
        poller,
        sessions,
        client,
        metrics,
        log,
        version,
        apiKeys: config.apiKeys,
        bindHost: config.host,
        allowedOrigins: config.allowedOrigins,
        maxBodyBytes: config.maxBodyBytes,
        defaultMaxTokens: config.defaultMaxTokens,
      });
      const server = await serveHttp(app.fetch, { host: config.host, port: config.port, tls: null });
      this.#server = server;
      scope.defer(() => server.close(SHUTDOWN_GRACE_MS));
      // Unwound before the server closes: every open stream gets its terminal event, then the drain lets it out.
      scope.defer(() => tasks.stop());
      log.info(
        {
          url: server.url,
          pool_managers: config.poolManagers,
          profile: config.profile,
          mtls: config.tls !== null,
          api_keys: config.apiKeys.length,
        },
        'orchestratord listening',
      );
    });
  }

  get state(): ServiceState {
    return this.#host.state;
  }
  get address(): HttpServer['address'] | null {
    return this.#server?.address ?? null;
  }

  start(): Promise<void> {
    return this.#host.start();
  }

  stop(): Promise<void> {
    return this.#host.stop();
  }
}
