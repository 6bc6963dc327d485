import type { OperationSpec, ResponseSpec } from './document.ts';

const openaiError = (description: string): ResponseSpec => ({ description, json: 'OpenAIErrorResponse' });
const withBackoff = (spec: ResponseSpec): ResponseSpec => ({ ...spec, headers: ['Retry-After', 'X-Backoff-Ms'] });

/** The errors both routes share: they go through the same admission queue and placement as completions. */
const refusals = {
  400: openaiError(
    'Invalid request; the message names the field (dimensions is refused: vectors keep the model’s size).',
  ),
  401: openaiError('Missing or unknown API key.'),
  404: openaiError('No pool of the needed kind serves this model; the message names the kind that is missing.'),
  429: withBackoff(openaiError('Admission queue full; retry after the advised delay.')),
  503: withBackoff(openaiError('No pool is available.')),
};

/** Issue 17: embeddings and rerank, served by pools of kind embedding and rerank. */
export const embeddingOperations: readonly OperationSpec[] = [
  {
    method: 'post',
    path: '/v1/embeddings',
    operationId: 'createEmbeddings',
    summary: 'OpenAI-compatible embeddings from a pool of kind embedding: one vector per input, float or base64.',
    tags: ['openai'],
    body: 'EmbeddingRequest',
    responses: { 200: { description: 'The embeddings and usage.', json: 'EmbeddingList' }, ...refusals },
  },
  {
    method: 'post',
    path: '/v1/rerank',
    operationId: 'createRerank',
    summary: 'Documents scored against a query by a pool of kind rerank, best first (top_n, return_documents).',
    tags: ['rerank'],
    body: 'RerankRequest',
    responses: { 200: { description: 'The ranked documents and usage.', json: 'RerankResultList' }, ...refusals },
  },
];
