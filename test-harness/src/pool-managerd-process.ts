import { fileURLToPath } from 'node:url';
import { startProcess, stopProcess, waitFor, type RunningProcess } from './processes.ts';

export const POOL_MANAGERD_CLI = fileURLToPath(
  new URL('../../bin/pool-managerd/bin/pool-managerd.js', import.meta.url),
);

export interface PoolManagerd {
  readonly proc: RunningProcess;
  readonly url: string;
  readonly stop: () => Promise<void>;
}

/** Start pool-managerd on a free loopback port and wait for its "listening" line; stopped by pid. */
export async function startPoolManagerd(env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<PoolManagerd> {
  const proc = startProcess(process.execPath, [POOL_MANAGERD_CLI], {
    ...process.env,
    POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0',
    ...env,
  });
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const url = await waitFor(
    'pool-managerd to listen',
    () => {
      if (exited) throw new Error(`pool-managerd exited before listening:\n${proc.output()}`);
      const line = proc
        .output()
        .split('\n')
        .find((l) => l.includes('"pool-managerd listening"'));
      return line === undefined ? undefined : (JSON.parse(line) as { url: string }).url;
    },
    timeoutMs,
  );
  return { proc, url, stop: () => stopProcess(proc) };
}
