import { ProvisioningError } from '../errors.ts';

export type EngineBuildErrorCode =
  'PROV_SOURCE_FETCH_FAILED' | 'PROV_SOURCE_INVALID' | 'PROV_BUILD_FAILED' | 'PROV_ENGINE_UNUSABLE';

/** A failure of fetching or building the engine, with the log to read. */
export class EngineBuildError extends ProvisioningError {
  readonly logFile: string | null;
  readonly logTail: string;

  constructor(code: EngineBuildErrorCode, message: string, logFile: string | null, logTail: string) {
    super(code, logTail === '' ? message : `${message}\n--- last lines of ${logFile ?? 'the output'} ---\n${logTail}`);
    this.name = 'EngineBuildError';
    this.logFile = logFile;
    this.logTail = logTail;
  }
}

export function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
