import { fileURLToPath } from 'node:url';
import { startProcess, stopProcess, waitFor, type RunningProcess } from './processes.ts';

export const ORCHESTRATORD_CLI = fileURLToPath(
  new URL('../../bin/orchestratord/bin/orchestratord.js', import.meta.url),
);

export interface Orchestratord {
  readonly proc: RunningProcess;
  readonly url: string;
  readonly stop: () => Promise<void>;
}

/** Start orchestratord on a free loopback port and wait for its "listening" line; stopped by pid. */
export async function startOrchestratord(env: NodeJS.ProcessEnv): Promise<Orchestratord> {
  const proc = startProcess(process.execPath, [ORCHESTRATORD_CLI], {
    ...process.env,
    ORCHD_BIND_ADDR: '127.0.0.1:0',
    ORCHD_POOL_POLL_INTERVAL_MS: '200',
    ...env,
  });
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const url = await waitFor('orchestratord to listen', () => {
    if (exited) throw new Error(`orchestratord exited before listening:\n${proc.output()}`);
    const line = proc
      .output()
      .split('\n')
      .find((l) => l.includes('"orchestratord listening"'));
    return line === undefined ? undefined : (JSON.parse(line) as { url: string }).url;
  });
  return { proc, url, stop: () => stopProcess(proc) };
}
