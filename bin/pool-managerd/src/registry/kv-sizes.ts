import { kvBytesPerToken, readGgufFileHeader } from '@llama-orch/provisioning';

/**
 * The KV cache bytes per token of each model file the pools serve, read once from its GGUF header in the background:
 * the status asks synchronously and gets null until the header has been read (or for good when it cannot be).
 */
export class KvSizes {
  readonly #known = new Map<string, number | null>();

  get(modelPath: string): number | null {
    const known = this.#known.get(modelPath);
    if (known !== undefined) return known;
    this.#known.set(modelPath, null);
    void readGgufFileHeader(modelPath).then(
      (header) => this.#known.set(modelPath, kvBytesPerToken(header)),
      () => this.#known.set(modelPath, null),
    );
    return null;
  }
}
