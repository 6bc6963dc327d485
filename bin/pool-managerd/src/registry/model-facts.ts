import { estimateEngineMemory, readModelFacts, type ModelFacts } from '@llama-orch/provisioning';
import type { PoolKind } from '@llama-orch/contracts';

/** What a pool's engines are started with, as far as their memory goes. */
export interface EngineShape {
  readonly ctx: number;
  readonly slots: number;
  readonly kind: PoolKind;
  readonly device: 'cpu' | 'cuda';
}

/**
 * What pool-managerd knows of each model file the pools serve, read once from its GGUF header (metadata and tensor
 * infos, never the weights) in the background: the status asks synchronously and gets null until the header has
 * been read (or for good when it cannot be). The memory estimate is worked out once per file and engine shape.
 */
export class ModelFactsCache {
  readonly #facts = new Map<string, ModelFacts | null>();
  readonly #estimates = new Map<string, number | null>();

  #of(modelPath: string): ModelFacts | null {
    const known = this.#facts.get(modelPath);
    if (known !== undefined) return known;
    this.#facts.set(modelPath, null);
    void readModelFacts(modelPath).then(
      (facts) => this.#facts.set(modelPath, facts),
      () => this.#facts.set(modelPath, null),
    );
    return null;
  }

  /** KV cache bytes per token of context (f16 cache). */
  kvBytesPerToken(modelPath: string): number | null {
    return this.#of(modelPath)?.kvBytesPerToken ?? null;
  }

  /** Bytes one engine serving the file with this shape holds (PROV-2041). */
  memoryEstimate(modelPath: string, shape: EngineShape): number | null {
    const key = `${shape.ctx} ${shape.slots} ${shape.kind} ${shape.device} ${modelPath}`;
    const known = this.#estimates.get(key);
    if (known !== undefined) return known;
    const facts = this.#of(modelPath);
    if (facts === null) return null;
    const estimate = estimateEngineMemory({ model: facts, ...shape })?.totalBytes ?? null;
    this.#estimates.set(key, estimate);
    return estimate;
  }
}
