import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { PoolControl } from '../control/pool-control.ts';
import type { PoolDispatcher } from '../control/dispatcher.ts';
import type { PoolRegistry } from '../registry/pool-registry.ts';

export interface AppDeps {
  readonly registry: PoolRegistry;
  readonly dispatcher: PoolDispatcher;
  readonly control: PoolControl;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly version: string;
  /** The address it listens on: on loopback, Host names are checked (no DNS rebinding from a web page). */
  readonly bindHost: string;
}

export type { EdgeEnv as AppEnv } from '@llama-orch/http';
