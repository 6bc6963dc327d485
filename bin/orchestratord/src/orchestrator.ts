import { serveHttp, serveMetrics, type HttpServer, type ServeTls } from '@llama-orch/http';
import { ServiceHost, type ServiceState } from '@llama-orch/lifecycle';
import { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import { TlsMaterialWatcher } from '@llama-orch/tls';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { OrchestratordConfig } from './config.ts';
import { createApp } from './http/app.ts';
import { Authenticator } from './http/auth/index.ts';
import { createMetrics } from './metrics.ts';
import { Budgets } from './journal/budgets.ts';
import type { Settlement } from './journal/records.ts';
import { TaskJournal } from './journal/task-journal.ts';
import { Activity } from './overview/activity.ts';
import { Overviews } from './overview/overview.ts';
import { NodeDiscovery } from './pools/node-discovery.ts';
import { PoolPoller } from './pools/pool-poller.ts';
import { SlotLedger } from './slots/slot-ledger.ts';
import { Scheduler } from './tasks/scheduler.ts';
import { SessionStore } from './tasks/sessions.ts';
import { StreamLimiter } from './http/stream-limiter.ts';

/** How long open streams get to finish on shutdown before their sockets are cut. */
const SHUTDOWN_GRACE_MS = 5_000;
/**
 * How long the listener stays open on shutdown, at most, for tasks the stop ended before any client was handed their
 * terminal event (a client given its 202 just before asks for the events just after). Zero such tasks, no wait.
 */
const STOP_LINGER_MS = 1_000;
/** Operator pages (overview streams) one client identity may have open at once. */
const OVERVIEW_STREAMS_PER_CLIENT = 8;

/** The journal ORCHD_DATABASE_URL names, migrated and with a crash's leftovers ended; null without one. */
async function openJournal(config: OrchestratordConfig, log: Logger, registry: Registry): Promise<TaskJournal | null> {
  const { database } = config;
  if (database === null) return null;
  // Loaded only when configured: a deployment without a journal carries neither driver.
  const store =
    database.kind === 'sqlite'
      ? new (await import('./journal/sqlite-store.ts')).SqliteStore(database.path)
      : new (await import('./journal/postgres-store.ts')).PostgresStore(database.url);
  try {
    return await TaskJournal.open({ store, replica: config.replicaId, log, registry });
  } catch (error) {
    await store.close().catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(reason.startsWith('ORCHD_DATABASE_URL') ? reason : `ORCHD_DATABASE_URL: ${reason}`, {
      cause: error,
    });
  }
}

/** orchestratord as one service: pool poller, scheduler and the HTTP API. */
export class Orchestrator {
  readonly #host: ServiceHost;
  #server: HttpServer | null = null;

  constructor(config: OrchestratordConfig, log: Logger, metrics: Registry, version: string) {
    this.#host = new ServiceHost('orchestratord', log, async (scope) => {
      // First: a keys file that cannot be read stops the start before anything else runs.
      const auth = await Authenticator.start(
        { keys: config.apiKeys, keysFile: config.apiKeysFile, oidc: config.oidc },
        log,
      );
      scope.defer(() => auth.stop());
      // Our client certificate for pool-managerd, re-read when its files change (new connections use the new one).
      const clientMaterial =
        config.tls === null
          ? null
          : new TlsMaterialWatcher(config.tls, { log, purpose: 'orchestratord → pool-managerd' });
      if (clientMaterial !== null) {
        await clientMaterial.start();
        scope.defer(() => clientMaterial.stop());
      }
      // Made before the client, which asks it what name a discovered node's certificate must carry; started below.
      const dns = config.poolManagersDns;
      const discovery =
        dns === null
          ? null
          : new NodeDiscovery({
              staticNodes: config.poolManagers,
              dns,
              servers: dns.servers,
              intervalMs: config.pollIntervalMs,
              timeoutMs: Math.min(1_000, config.poolRequestTimeoutMs),
              log,
              onNodes: (nodes) => poller.setNodes(nodes),
            });
      const client = await PoolManagerdClient.create({
        tls: clientMaterial,
        requestTimeoutMs: config.poolRequestTimeoutMs,
        ...(discovery === null ? {} : { serverName: (origin: string) => discovery.serverName(origin) }),
      });
      scope.defer(() => client.close());
      // The journal closes last (deferred first): the records of tasks the stop ends are written before it closes.
      const journal = await openJournal(config, log, metrics);
      if (journal !== null) scope.defer(() => journal.close());
      const budgets = new Budgets({
        path: config.budgetsFile,
        store: journal?.store ?? null,
        log,
        ...(journal === null ? {} : { settle: (settlement: Settlement) => journal.settle(settlement) }),
      });
      await budgets.start();
      scope.defer(() => budgets.stop());
      const orchMetrics = createMetrics(metrics);
      const ledger = new SlotLedger();
      const sessions = new SessionStore();
      let scheduler: Scheduler | null = null;
      const activity = new Activity(() => scheduler?.liveTasks() ?? [], Date.now, log);
      const poller = new PoolPoller(config.poolManagers, client, ledger, {
        intervalMs: config.pollIntervalMs,
        log,
        onChange: () => scheduler?.pump(),
        // A stream through a lost node that has been silent as long as a poll may take is dead, not slow.
        onLost: (node, reason) => scheduler?.nodeLost(node, reason, config.poolRequestTimeoutMs),
        metrics: orchMetrics,
      });
      const tasks = new Scheduler({
        capacity: config.admissionCapacity,
        policy: config.admissionPolicy,
        poller,
        client,
        ledger,
        sessions,
        metrics: orchMetrics,
        log,
        retries: config.dispatchRetries,
        poolWaitMs: config.poolWaitMs,
        reconnectGraceMs: config.reconnectGraceMs,
        decodeTimeoutMs: config.decodeTimeoutMs,
        onAdmitted: (task) => {
          activity.admitted(task);
          journal?.track(task);
        },
      });
      scheduler = tasks;
      activity.start();
      scope.defer(() => activity.stop()); // also if the start fails past here; stopping twice is harmless
      await poller.start();
      scope.defer(() => poller.stop());
      if (discovery !== null) {
        await discovery.start();
        scope.defer(() => discovery.stop());
      }
      const app = createApp({
        scheduler: tasks,
        poller,
        sessions,
        client,
        metrics,
        log,
        version,
        auth,
        bindHost: config.host,
        allowedOrigins: config.allowedOrigins,
        maxBodyBytes: config.maxBodyBytes,
        defaultMaxTokens: config.defaultMaxTokens,
        sseKeepAliveMs: config.sseKeepAliveMs,
        streams: new StreamLimiter(config.maxStreamsPerClient),
        overview: new Overviews(tasks, activity, version),
        overviewStreams: new StreamLimiter(OVERVIEW_STREAMS_PER_CLIENT, 'the operator page allows 8 per client'),
        journal,
        budgets,
      });
      // HTTPS for clients (ORCHD_SERVER_TLS_*): keys and tokens off the wire in clear.
      let clientTls: ServeTls | null = null;
      if (config.serverTls !== null) {
        // With the cluster CA (ORCHD_TLS_CA) clients are asked for a certificate but need none: only pool-managerd's
        // readiness callbacks must present one from that CA (routes/callbacks.ts checks it).
        const caFile = config.tls?.caFile;
        const material = new TlsMaterialWatcher(
          { ...config.serverTls, caFile },
          { log, purpose: 'orchestratord client-facing' },
        );
        await material.start();
        scope.defer(() => material.stop());
        clientTls = { source: material, clientCertificates: caFile === undefined ? 'none' : 'request' };
      }
      if (config.metricsPort !== null) {
        const metricsServer = await serveMetrics('orchestratord', metrics, log, config.host, config.metricsPort);
        scope.defer(() => metricsServer.close(0));
        log.info({ url: `${metricsServer.url}/metrics` }, 'orchestratord metrics listening');
      }
      const server = await serveHttp(app.fetch, {
        host: config.host,
        port: config.port,
        tls: clientTls,
        limits: config.connections,
      });
      this.#server = server;
      scope.defer(() => server.close(SHUTDOWN_GRACE_MS));
      // Before the server closes: the overview streams end (they would hold its close for the whole grace).
      scope.defer(() => activity.stop());
      // Unwound before the server closes: every open stream gets its terminal event, then the drain lets it out.
      scope.defer(() => tasks.stop(STOP_LINGER_MS));
      log.info(
        {
          url: server.url,
          pool_managers: config.poolManagers,
          pool_managers_dns: dns === null ? null : dns.name,
          profile: config.profile,
          mtls: config.tls !== null,
          ...auth.describe(),
          https: config.serverTls !== null,
        },
        'orchestratord listening',
      );
      if (config.profile === 'cloud' && config.serverTls === null)
        log.warn(
          { url: server.url },
          'clients reach orchestratord over plain HTTP: API keys and tokens travel in clear unless a TLS proxy is in front (set ORCHD_SERVER_TLS_CERT and ORCHD_SERVER_TLS_KEY)',
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
