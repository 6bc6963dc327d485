import type { LifecycleLog } from './log.ts';
import { StopStack, type StopStep } from './stop-stack.ts';

export type ServiceState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What a service's start body gets: where to register the undo of each step, and whether to give up. */
export interface StartScope {
  /** Undo what was just started; undone in reverse order on stop, and after a failed or cancelled start. */
  defer(step: StopStep): void;
  /** Aborted when stop() is called before start() finished: long steps should give up early. */
  readonly signal: AbortSignal;
}

/** Thrown by start() when a stop cancelled it. */
export class StartCancelled extends Error {
  readonly code = 'START_CANCELLED';
  constructor(name: string) {
    super(`${name}: start cancelled by a stop`);
  }
}

/**
 * One long-lived service with start()/stop() and a state union whose changes are logged here and only here.
 * The service's body starts its parts and defers their undo; stop() unwinds them in reverse. A stop that arrives
 * while start() is still running cancels the start (its signal aborts), waits for it to settle, and then stops
 * whatever it had started, so nothing started during start-up outlives the service.
 */
export class ServiceHost implements Service {
  readonly #name: string;
  readonly #log: LifecycleLog;
  readonly #body: (scope: StartScope) => Promise<void>;
  readonly #stops: StopStack;
  readonly #cancel = new AbortController();
  #state: ServiceState = 'idle';
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(name: string, log: LifecycleLog, body: (scope: StartScope) => Promise<void>) {
    this.#name = name;
    this.#log = log;
    this.#body = body;
    this.#stops = new StopStack(log);
  }

  get state(): ServiceState {
    return this.#state;
  }

  #setState(state: ServiceState): void {
    this.#state = state;
    this.#log.info({ state }, `${this.#name} ${state}`);
  }

  start(): Promise<void> {
    if (this.#state !== 'idle') return Promise.reject(new Error(`${this.#name}: start() called when ${this.#state}`));
    this.#setState('starting');
    const scope: StartScope = { defer: (step) => this.#stops.push(step), signal: this.#cancel.signal };
    this.#starting = (async () => {
      await this.#body(scope);
      if (this.#cancel.signal.aborted) throw new StartCancelled(this.#name);
      this.#setState('running');
    })();
    return this.#starting;
  }

  /** Idempotent: later calls wait for the first. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'starting') {
      this.#cancel.abort(new StartCancelled(this.#name));
      await this.#starting?.catch(() => undefined);
    }
    if (this.#state !== 'idle') this.#setState('stopping');
    await this.#stops.unwind();
    this.#setState('stopped');
  }
}
