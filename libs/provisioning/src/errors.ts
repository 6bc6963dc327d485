/**
 * Stable codes of provisioning failures (like undici's `UND_ERR_*`). A `ProvisioningError` carries one as its
 * own enumerable `code`, so pino's error serializer writes it into the JSON log line as `err.code`: another
 * process (`llorch home` reading pool-managerd's log) decides by code, never by the message text.
 */
export const PROVISIONING_ERROR_CODES = {
  PROV_PLAN_REFUSED:
    'the plan has error findings (a missing tool, an incomplete CUDA toolkit, an unknown pool or GPU); `findings` lists them with their codes',
  PROV_SOURCE_FETCH_FAILED: 'fetching the llama.cpp source failed; the error names the log file and its last lines',
  PROV_SOURCE_INVALID: 'a path: source is not a llama.cpp source tree',
  PROV_BUILD_FAILED: 'configuring or building llama-server failed; the error names the build log and its last lines',
  PROV_ENGINE_UNUSABLE: 'the llama-server binary cannot run or prints no version',
  PROV_ENGINE_START_FAILED: 'llama-server exited, or did not answer /health in time; the error holds its log tail',
  PROV_RESTART_STORM: 'an engine exited too often within the storm window; its replica stays failed',
  PROV_MODEL_NOT_FOUND: 'a file: model does not exist',
  PROV_MODEL_NOT_GGUF: 'the model file (or what a download returned) is not a GGUF model llama.cpp reads',
  PROV_MODEL_DIGEST_MISMATCH: 'the model’s sha256 is not the configured one',
  PROV_MODEL_FETCH_FAILED: 'the model download failed: network error, HTTP status, cut short or too many redirects',
  PROV_HANDOFF_DIR_BUSY: 'another engine-provisioner holds the handoff directory',
  PROV_STOPPED: 'the provisioner was stopped while it was still preparing',
} as const;

export type ProvisioningErrorCode = keyof typeof PROVISIONING_ERROR_CODES;

/** A provisioning failure with its stable code; the subclasses add what to read (log file, findings, …). */
export class ProvisioningError extends Error {
  readonly code: ProvisioningErrorCode;

  constructor(code: ProvisioningErrorCode, message: string) {
    super(message);
    this.name = 'ProvisioningError';
    this.code = code;
  }
}

/** The code of a provisioning failure, or null for any other error. */
export function provisioningCode(error: unknown): ProvisioningErrorCode | null {
  return error instanceof ProvisioningError ? error.code : null;
}
