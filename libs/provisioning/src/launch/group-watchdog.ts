import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * The watchdog's program (POSIX sh; dash's `kill` takes no `--`): `read` returns at end of input, which comes when
 * the last holder of the pipe's other end — this process alone — has exited. Then SIGTERM to the group, and SIGKILL
 * once `$2` tenths of a second have passed with any member left.
 */
const SCRIPT = [
  ': llama-orch process-group watchdog',
  'read -r _',
  'kill -TERM "-$1" 2>/dev/null || exit 0',
  'i=0',
  'while [ "$i" -lt "$2" ] && kill -0 "-$1" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done',
  'kill -KILL "-$1" 2>/dev/null',
  'exit 0',
].join('\n');

export interface GroupWatchdog {
  /** The watchdog's own pid. */
  readonly pid: number | undefined;
  /** End the watch without touching the group: it is gone, or being stopped on purpose. Idempotent. */
  dismiss(): void;
}

/**
 * A parent-death watch for a process group (Linux; Node cannot reach `prctl(PR_SET_PDEATHSIG)`). A tiny `sh` in a
 * session of its own reads its stdin, a pipe whose write end only this process holds (libuv opens it close-on-exec,
 * so no other child inherits it). However this process ends — a clean exit, a crash, `kill -9`, the OOM killer — the
 * kernel closes that end, the read returns and the watchdog sends the group SIGTERM, then SIGKILL after `graceMs`.
 * Neither the watchdog nor its pipe keeps this process alive, and a Ctrl-C in the terminal does not reach it.
 */
export function watchGroup(pgid: number, graceMs: number): GroupWatchdog {
  const tenths = String(Math.max(1, Math.ceil(graceMs / 100)));
  const child = spawn('/bin/sh', ['-c', SCRIPT, 'llorch-watchdog', String(pgid), tenths], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  child.unref();
  // The pipe's write end stays open (that is the watch) but never holds the event loop.
  (child.stdin as Socket | null)?.unref();
  return {
    pid: child.pid,
    dismiss: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
