/** The logging the lifecycle needs; pino's Logger satisfies it. */
export interface LifecycleLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * What a service started, to be stopped in reverse order. A failing step is logged and the rest still run;
 * unwinding twice does nothing.
 */
export class StopStack {
  readonly #log: LifecycleLog;
  #steps: (() => Promise<void> | void)[] = [];

  constructor(log: LifecycleLog) {
    this.#log = log;
  }

  push(step: () => Promise<void> | void): void {
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

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A daemon's main loop: start the service, run until SIGINT or SIGTERM (handled here and only here), stop it
 * gracefully. Returns the exit code: 0 after a clean stop, 1 when the service could not start.
 */
export async function runUntilSignal(
  name: string,
  service: Service,
  log: LifecycleLog,
  afterStop?: () => Promise<void>,
): Promise<number> {
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      void service
        .stop()
        .then(() => afterStop?.())
        .then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    await service.start();
  } catch (error) {
    log.error({ err: error }, `${name} failed to start`);
    process.stderr.write(`${name}: ${(error as Error).message}\n`);
    await service.stop();
    await afterStop?.();
    return 1;
  }
  await stopped;
  return 0;
}
