import type { LifecycleLog } from './log.ts';

export interface PeriodicOptions {
  readonly name: string;
  readonly intervalMs: number;
  /** One round of work; a throw is logged and the loop goes on. */
  readonly tick: () => Promise<void> | void;
  readonly log: LifecycleLog;
  /** Keep the process alive for this loop (default false: the daemon's server does that). */
  readonly ref?: boolean;
}

/**
 * A loop that runs `tick` every interval, never two at once: a tick still running when the next is due is not
 * doubled. `trigger()` runs one now (or joins the running one); `stop()` ends the loop and waits for the last tick.
 */
export class Periodic {
  readonly #options: PeriodicOptions;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;

  constructor(options: PeriodicOptions) {
    this.#options = options;
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  /** Start the loop; the first tick runs now unless `immediate` is false. Resolves after that first tick. */
  async start(immediate = true): Promise<void> {
    if (this.#timer !== null || this.#stopped) return;
    this.#timer = setInterval(() => void this.trigger(), this.#options.intervalMs);
    if (this.#options.ref !== true) this.#timer.unref();
    if (immediate) await this.trigger();
  }

  trigger(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running !== null) return this.#running;
    const run = (async () => {
      try {
        await this.#options.tick();
      } catch (error) {
        this.#options.log.warn({ err: error, loop: this.#options.name }, `${this.#options.name}: tick failed`);
      }
    })();
    this.#running = run;
    // Cleared once settled (asynchronously, so a tick that finishes at once cannot leave a stale promise).
    void run.finally(() => {
      if (this.#running === run) this.#running = null;
    });
    return run;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
