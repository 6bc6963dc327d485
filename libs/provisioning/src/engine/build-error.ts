/** A failure of fetching or building the engine, with the log to read. */
export class EngineBuildError extends Error {
  readonly logFile: string | null;
  readonly logTail: string;

  constructor(message: string, logFile: string | null, logTail: string) {
    super(logTail === '' ? message : `${message}\n--- last lines of ${logFile ?? 'the output'} ---\n${logTail}`);
    this.name = 'EngineBuildError';
    this.logFile = logFile;
    this.logTail = logTail;
  }
}

export function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
