import { startProcess, stopProcess, waitFor, type RunningProcess } from './processes.ts';
import { DAEMON_NODE_FLAGS } from '@llama-orch/lifecycle';

export interface DaemonProcess {
  readonly proc: RunningProcess;
  readonly url: string;
  readonly stop: () => Promise<void>;
}

/** Start one of our daemons and wait for its JSON "<name> listening" log line, which carries its URL. */
export async function startDaemon(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<DaemonProcess> {
  const proc = startProcess(process.execPath, [...DAEMON_NODE_FLAGS, script], env);
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  // A daemon that never says it listens is stopped here: the caller never gets a handle to stop it by.
  const url = await waitFor(
    `${name} to listen`,
    () => {
      if (exited) throw new Error(`${name} exited before listening:\n${proc.output()}`);
      const line = proc
        .output()
        .split('\n')
        .find((l) => l.includes(`"${name} listening"`));
      return line === undefined ? undefined : (JSON.parse(line) as { url: string }).url;
    },
    timeoutMs,
  ).catch(async (error: unknown) => {
    await stopProcess(proc);
    throw error;
  });
  return { proc, url, stop: () => stopProcess(proc) };
}
