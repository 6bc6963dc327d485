import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import type { PoolPoller } from '../pools/pool-poller.ts';
import type { Scheduler } from '../tasks/scheduler.ts';
import type { SessionStore } from '../tasks/sessions.ts';

export interface AppDeps {
  readonly scheduler: Scheduler;
  readonly poller: PoolPoller;
  readonly sessions: SessionStore;
  readonly client: PoolManagerdClient;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly version: string;
  readonly apiKeys: readonly string[];
  /** The address it listens on: Host names are checked when it is loopback. */
  readonly bindHost: string;
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly defaultMaxTokens: number;
}

export type { EdgeEnv as AppEnv } from '@llama-orch/http';
