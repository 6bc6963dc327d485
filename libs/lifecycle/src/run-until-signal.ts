import type { LifecycleLog } from './log.ts';
import { StartCancelled, type Service } from './service-host.ts';
import { onStopSignals } from './stop-signals.ts';

export interface RunOptions {
  /** Runs after the service stopped (flush a tracer, …). */
  readonly afterStop?: () => Promise<void>;
  /** The longest a graceful stop may take before the process exits anyway (default 30 s). */
  readonly graceMs?: number;
  /** What a second signal leaves of the grace period (default 3 s). */
  readonly hurryMs?: number;
  /** Signals this close together count as one (default 150 ms; see onStopSignals). */
  readonly coalesceMs?: number;
  /** How a forced stop leaves (default process.exit; tests replace it). */
  readonly exit?: (code: number) => void;
  readonly now?: () => number;
}

/**
 * A daemon's main loop: start the service, run until SIGINT or SIGTERM (handled here and only here), stop it
 * gracefully. A signal during start-up cancels the start and stops what it had started. There is exactly one
 * graceful stop: a second signal only shortens its grace period (to `hurryMs`), a third — or the end of the grace
 * period — exits at once with code 1. Returns the exit code: 0 after a clean stop, 1 when the service could not start.
 */
export async function runUntilSignal(
  name: string,
  service: Service,
  log: LifecycleLog,
  options: RunOptions = {},
): Promise<number> {
  const { afterStop, graceMs = 30_000, hurryMs = 3_000 } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const now = options.now ?? Date.now;
  let stopRequested = false;
  let forceAt = Infinity;
  let forceTimer: NodeJS.Timeout | undefined;
  const force = (why: string): void => {
    log.error({ forced: true }, `${name}: ${why}; exiting now`);
    exit(1);
  };
  /** Exit at once when the stop still runs in `ms` (never later than an earlier deadline). */
  const forceWithin = (ms: number): void => {
    if (now() + ms >= forceAt) return;
    forceAt = now() + ms;
    clearTimeout(forceTimer);
    forceTimer = setTimeout(() => force(`the stop took longer than ${ms} ms`), ms);
    forceTimer.unref();
  };
  let stopListening = (): void => undefined;
  const stopped = new Promise<void>((resolve) => {
    stopListening = onStopSignals(
      (urgency, signal) => {
        switch (urgency) {
          case 'graceful':
            stopRequested = true;
            log.info({ signal, grace_ms: graceMs }, 'stopping');
            forceWithin(graceMs);
            void service
              .stop()
              .catch((error: unknown) => log.error({ err: error }, `${name}: error while stopping`))
              .then(() => afterStop?.())
              .then(resolve);
            return;
          case 'hurry':
            log.warn({ signal, grace_ms: hurryMs }, 'stopping: a second signal shortens the grace period');
            forceWithin(hurryMs);
            return;
          case 'force':
            force(`forced by another ${signal}`);
            return;
        }
      },
      { ...(options.coalesceMs === undefined ? {} : { coalesceMs: options.coalesceMs }), now },
    );
  });
  try {
    try {
      await service.start();
    } catch (error) {
      if (stopRequested || error instanceof StartCancelled) {
        await stopped;
        return 0;
      }
      log.error({ err: error }, `${name} failed to start`);
      process.stderr.write(`${name}: ${(error as Error).message}\n`);
      await service.stop();
      await afterStop?.();
      return 1;
    }
    await stopped;
    return 0;
  } finally {
    stopListening();
    clearTimeout(forceTimer);
  }
}
