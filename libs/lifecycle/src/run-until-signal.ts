import type { LifecycleLog } from './log.ts';
import { StartCancelled, type Service } from './service-host.ts';

/**
 * A daemon's main loop: start the service, run until SIGINT or SIGTERM (handled here and only here), stop it
 * gracefully. A signal during start-up cancels the start and stops what it had started. Returns the exit code:
 * 0 after a clean stop, 1 when the service could not start.
 */
export async function runUntilSignal(
  name: string,
  service: Service,
  log: LifecycleLog,
  afterStop?: () => Promise<void>,
): Promise<number> {
  let stopRequested = false;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopRequested) return;
      stopRequested = true;
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
}
