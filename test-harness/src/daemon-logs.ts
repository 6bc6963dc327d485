import { waitFor } from './processes.ts';

/** One pino JSON line of a daemon's output. */
export type LogLine = Record<string, unknown>;

/** The JSON log lines of a daemon's output that `match` accepts. */
export function logLines(output: string, match: (line: LogLine) => boolean): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .map((line) => JSON.parse(line) as LogLine)
    .filter(match);
}

/**
 * Wait until at least `count` lines match, within `timeoutMs`: a daemon's output reaches the test after the answers
 * it explains, so a line is waited for, never expected at once.
 */
export function logged(
  output: () => string,
  what: string,
  match: (line: LogLine) => boolean,
  count = 1,
  timeoutMs = 5_000,
): Promise<LogLine[]> {
  return waitFor(
    what,
    () => {
      const lines = logLines(output(), match);
      return lines.length >= count ? lines : undefined;
    },
    timeoutMs,
    20,
  );
}
