import { fileURLToPath } from 'node:url';
import { startDaemon, type DaemonProcess } from './daemon-process.ts';

export const POOL_MANAGERD_CLI = fileURLToPath(
  new URL('../../bin/pool-managerd/bin/pool-managerd.js', import.meta.url),
);

export type PoolManagerd = DaemonProcess;

/** Start pool-managerd on a free loopback port (unless env says otherwise); stopped by pid. */
export function startPoolManagerd(env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<PoolManagerd> {
  return startDaemon(
    'pool-managerd',
    POOL_MANAGERD_CLI,
    { ...process.env, POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0', ...env },
    timeoutMs,
  );
}
