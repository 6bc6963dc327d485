/** How hard a stop signal asks: the first for a graceful stop, the second to hurry it, the third to force it. */
export type StopUrgency = 'graceful' | 'hurry' | 'force';

export interface StopSignalOptions {
  /**
   * A signal within this many ms of the last one counted is the same request (default 150): `npm start` forwards
   * the terminal's Ctrl-C to a process that already got it from the terminal.
   */
  readonly coalesceMs?: number;
  /** The clock (tests replace it). */
  readonly now?: () => number;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Listen for SIGINT and SIGTERM and rate each by how many came before: the first asks for a graceful stop, the
 * second hurries it (a shorter grace period), the third and later force it. Returns the function that stops
 * listening. Meant for a command's main loop, the one place that handles signals.
 */
export function onStopSignals(
  handler: (urgency: StopUrgency, signal: NodeJS.Signals) => void,
  options: StopSignalOptions = {},
): () => void {
  const coalesceMs = options.coalesceMs ?? 150;
  const now = options.now ?? Date.now;
  let count = 0;
  let last = -Infinity;
  const listener = (signal: NodeJS.Signals): void => {
    const at = now();
    if (at - last < coalesceMs) return;
    last = at;
    count += 1;
    handler(count === 1 ? 'graceful' : count === 2 ? 'hurry' : 'force', signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, listener);
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, listener);
  };
}
