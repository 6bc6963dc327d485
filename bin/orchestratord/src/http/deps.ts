import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { EdgeEnv } from '@llama-orch/http';
import type { PoolManagerdClient } from '@llama-orch/pool-managerd-client';
import type { Budgets } from '../journal/budgets.ts';
import type { TaskJournal } from '../journal/task-journal.ts';
import type { Overviews } from '../overview/overview.ts';
import type { PoolPoller } from '../pools/pool-poller.ts';
import type { Scheduler } from '../tasks/scheduler.ts';
import type { SessionStore } from '../tasks/sessions.ts';
import type { Authenticator } from './auth/authenticator.ts';
import type { Identity } from './auth/identity.ts';
import type { StreamLimiter } from './stream-limiter.ts';

export interface AppDeps {
  readonly scheduler: Scheduler;
  readonly poller: PoolPoller;
  readonly sessions: SessionStore;
  readonly client: PoolManagerdClient;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly version: string;
  /** Who a request comes from (API keys, OIDC tokens; no one configured: everyone is ANONYMOUS). */
  readonly auth: Authenticator;
  /** The address it listens on: Host names are checked when it is loopback. */
  readonly bindHost: string;
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly defaultMaxTokens: number;
  readonly sseKeepAliveMs: number;
  /** Open event streams per client identity (ORCHD_MAX_STREAMS_PER_CLIENT). */
  readonly streams: StreamLimiter;
  /** What the operator page shows (GET /v2/overview and its stream). */
  readonly overview: Overviews;
  /** Overview streams one client identity may hold open at once (a page per tab). */
  readonly overviewStreams: StreamLimiter;
  /** The task journal and usage ledger (ORCHD_DATABASE_URL); null without one. */
  readonly journal: TaskJournal | null;
  /** Daily budgets per identity (ORCHD_BUDGETS_FILE). */
  readonly budgets: Budgets;
}

/** The edge's variables plus the caller's identity (set by the authenticate middleware). */
export interface AppEnv {
  Variables: EdgeEnv['Variables'] & { identity: Identity };
}
