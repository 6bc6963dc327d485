import { fileURLToPath } from 'node:url';
import { startDaemon, type DaemonProcess } from './daemon-process.ts';

export const ORCHESTRATORD_CLI = fileURLToPath(
  new URL('../../bin/orchestratord/bin/orchestratord.js', import.meta.url),
);

export type Orchestratord = DaemonProcess;

/** Start orchestratord on a free loopback port, polling every 200 ms; stopped by pid. */
export function startOrchestratord(env: NodeJS.ProcessEnv): Promise<Orchestratord> {
  return startDaemon('orchestratord', ORCHESTRATORD_CLI, {
    ...process.env,
    ORCHD_BIND_ADDR: '127.0.0.1:0',
    ORCHD_POOL_POLL_INTERVAL_MS: '200',
    ...env,
  });
}
