import { z } from 'zod';

/** What a pool serves: text generation, embeddings (llama-server `--embeddings`) or reranking (`--reranking`). */
export const POOL_KINDS = ['completion', 'embedding', 'rerank'] as const;
export const PoolKindSchema = z
  .enum(POOL_KINDS)
  .describe(
    'What the pool serves: completion (chat, completions, responses, messages), embedding (/v1/embeddings) or rerank (/v1/rerank); absent: completion.',
  );
export type PoolKind = z.infer<typeof PoolKindSchema>;

/** How an embedding pool pools token vectors into one (llama-server `--pooling`); absent: the model's own. */
export const EmbeddingPoolingSchema = z
  .enum(['mean', 'cls', 'last'])
  .describe("llama-server --pooling for an embedding pool; absent: the model's own pooling type.");
export type EmbeddingPooling = z.infer<typeof EmbeddingPoolingSchema>;

/** The kind a pool has when its config, handoff or status names none (older files and daemons). */
export const poolKindOf = (value: { readonly kind?: PoolKind | undefined }): PoolKind => value.kind ?? 'completion';

/** The kind of pool an engine route (DispatchRequest's `endpoint`) needs. */
export function kindOfEndpoint(endpoint: string): PoolKind {
  if (endpoint === '/v1/embeddings') return 'embedding';
  if (endpoint === '/v1/rerank') return 'rerank';
  return 'completion';
}
