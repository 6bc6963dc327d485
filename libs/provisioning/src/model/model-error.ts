import { ProvisioningError } from '../errors.ts';

export type ModelErrorCode =
  'PROV_MODEL_NOT_FOUND' | 'PROV_MODEL_NOT_GGUF' | 'PROV_MODEL_DIGEST_MISMATCH' | 'PROV_MODEL_FETCH_FAILED';

/** A model that cannot be used: missing, not GGUF, wrong digest, or failed to download. */
export class ModelError extends ProvisioningError {
  constructor(code: ModelErrorCode, message: string) {
    super(code, message);
    this.name = 'ModelError';
  }
}
