import type { LifecycleLog } from './log.ts';

export type StopStep = () => Promise<void> | void;

/**
 * What a service started, to be stopped in reverse order. A failing step is logged and the rest still run;
 * unwinding twice does nothing.
 */
export class StopStack {
  readonly #log: LifecycleLog;
  #steps: StopStep[] = [];

  constructor(log: LifecycleLog) {
    this.#log = log;
  }

  push(step: StopStep): void {
    this.#steps.push(step);
  }

  async unwind(): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        this.#log.warn({ err: error }, 'error while stopping');
      }
    }
  }
}
