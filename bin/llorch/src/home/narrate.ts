import { isErrorLine, type LogLine } from './daemon.ts';

const str = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '?');
const mb = (n: unknown): string => (typeof n === 'number' ? (n / 1024 / 1024).toFixed(1) : '?');

/** A pool's device choice, as pool-managerd logs it (`event: pool.device`). */
export interface DeviceChoice {
  readonly requested: string;
  readonly device: string;
  readonly gpus: readonly number[];
  readonly reason: string;
}

export function deviceChoice(line: LogLine): { poolId: string; choice: DeviceChoice } | null {
  if (line['event'] !== 'pool.device' || typeof line['pool_id'] !== 'string') return null;
  const gpus = Array.isArray(line['gpus']) ? line['gpus'].filter((g): g is number => typeof g === 'number') : [];
  return {
    poolId: line['pool_id'],
    choice: { requested: str(line['requested']), device: str(line['device']), gpus, reason: str(line['reason']) },
  };
}

/** GPUs were asked for (`gpus: [0]`, device auto), and the pool runs on the CPU all the same. */
export const fellBackToCpu = (choice: DeviceChoice): boolean =>
  choice.device === 'cpu' && choice.requested !== 'cpu' && choice.gpus.length > 0;

/**
 * The lines a person wants to see while the tree starts, from the daemons' JSON logs: decided by their `event`
 * field (pool-managerd's provisioning progress) and their structured fields (a pool's state change), never by the
 * text of their message; any error line is shown as it is.
 */
export function narrate(name: string, line: LogLine, progress: (text: string) => void): void {
  switch (line['event']) {
    case 'pool.build':
      if (line['phase'] !== 'fetch')
        progress(
          `llama.cpp ${str(line['phase'])}${line['percent'] === null ? '' : ` ${str(line['percent'])}%`} (first run only: cached afterwards)`,
        );
      return;
    case 'pool.download':
      progress(
        `model ${str(line['pool_id'])}: ${mb(line['bytes'])}/${mb(line['total'])} MB at ${mb(line['bytes_per_s'])} MB/s, ETA ${str(line['eta_s'])} s`,
      );
      return;
    case 'pool.engine':
      progress(line.msg ?? '');
      return;
    case 'pool.device': {
      const choice = deviceChoice(line);
      if (choice !== null && fellBackToCpu(choice.choice))
        progress(`pool ${choice.poolId}: gpus ${JSON.stringify(choice.choice.gpus)} asked for, running on the CPU`);
      return;
    }
  }
  const { pool_id: poolId, from, to } = line;
  if (typeof poolId === 'string' && typeof from === 'string' && (to === 'ready' || to === 'failed')) {
    const reason = typeof line['reason'] === 'string' ? ` (${line['reason'].slice(0, 200)})` : '';
    progress(`pool ${poolId} ${from} → ${to}${reason}`);
  } else if (isErrorLine(line) && typeof poolId !== 'string') {
    // A pool's error shows as its state change (with the reason), above.
    const err = line['err'] as { message?: unknown } | undefined;
    progress(`${name}: ${line.msg ?? 'error'}${typeof err?.message === 'string' ? `: ${err.message}` : ''}`);
  }
}
