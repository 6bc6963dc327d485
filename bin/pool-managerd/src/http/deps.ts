import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { PoolControl } from '../control/pool-control.ts';
import type { PoolDispatcher } from '../control/dispatcher.ts';
import type { PoolRegistry } from '../registry/pool-registry.ts';
import type { Residency } from '../residency/residency.ts';

export interface AppDeps {
  readonly registry: PoolRegistry;
  readonly dispatcher: PoolDispatcher;
  readonly control: PoolControl;
  /** Pools loaded on demand; null when this pool-managerd runs no engines itself (handoffs only). */
  readonly residency: Residency | null;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly version: string;
  /** The address it listens on: on loopback, Host names are checked (no DNS rebinding from a web page). */
  readonly bindHost: string;
}

export type { EdgeEnv as AppEnv } from '@llama-orch/http';
