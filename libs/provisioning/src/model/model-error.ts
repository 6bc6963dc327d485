/** A model that cannot be used: missing, not GGUF, wrong digest, or failed to download. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}
