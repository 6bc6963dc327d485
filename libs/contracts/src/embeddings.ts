import { z } from 'zod';
import { named } from './registry.ts';

/**
 * Embeddings and reranking (issue 17): OpenAI's `POST /v1/embeddings` and the common `POST /v1/rerank` shape (Jina,
 * Cohere, llama-server). Requests are loose: llama.cpp's extension fields (`embd_normalize`) pass through.
 */

/** At most this many inputs (OpenAI's limit) or documents in one request. */
export const MAX_EMBEDDING_INPUTS = 2048;
export const MAX_RERANK_DOCUMENTS = 1000;

const TokenIdsSchema = z.array(z.int().min(0)).min(1, 'a token array needs at least one token');

export const EmbeddingRequestSchema = named(
  z.looseObject({
    model: z.string().min(1),
    input: z.union(
      [
        z.string().min(1, 'must not be empty'),
        z.array(z.string().min(1, 'must not be empty')).min(1).max(MAX_EMBEDDING_INPUTS),
        TokenIdsSchema.max(1_048_576),
        z.array(TokenIdsSchema).min(1).max(MAX_EMBEDDING_INPUTS),
      ],
      'must be a string, an array of strings, an array of token ids or an array of token-id arrays',
    ),
    encoding_format: z.enum(['float', 'base64']).default('float'),
    /** Refused by the route: llama-server answers the model's own size and cannot shorten it. */
    dimensions: z.int().min(1).optional(),
    user: z.string().optional(),
  }),
  'EmbeddingRequest',
  'Body of POST /v1/embeddings (OpenAI shape): one vector per input, from a pool of kind embedding.',
);
export type EmbeddingRequest = z.output<typeof EmbeddingRequestSchema>;

const EmbeddingUsageSchema = z.looseObject({ prompt_tokens: z.int().min(0), total_tokens: z.int().min(0) });

export const EmbeddingListSchema = named(
  z.looseObject({
    object: z.literal('list'),
    model: z.string().min(1),
    data: z.array(
      z.looseObject({
        object: z.literal('embedding'),
        index: z.int().min(0),
        /** Floats, or with encoding_format base64 the little-endian float32 bytes in base64. */
        embedding: z.union([z.array(z.number()), z.string()]),
      }),
    ),
    usage: EmbeddingUsageSchema,
  }),
  'EmbeddingList',
  'Answer of POST /v1/embeddings: one embedding per input, in input order, and the tokens read.',
);
export type EmbeddingList = z.infer<typeof EmbeddingListSchema>;

const RerankDocumentSchema = z.union([z.string(), z.looseObject({ text: z.string() })]);

export const RerankRequestSchema = named(
  z.looseObject({
    model: z.string().min(1),
    query: z.string().min(1, 'must not be empty'),
    documents: z.array(RerankDocumentSchema).min(1).max(MAX_RERANK_DOCUMENTS),
    top_n: z.int().min(1).optional(),
    return_documents: z.boolean().default(false),
  }),
  'RerankRequest',
  'Body of POST /v1/rerank: score each document against the query (a pool of kind rerank); documents are strings or {text}.',
);
export type RerankRequest = z.output<typeof RerankRequestSchema>;

export const RerankResultListSchema = named(
  z.looseObject({
    object: z.literal('list').optional(),
    model: z.string().min(1),
    results: z.array(
      z.looseObject({
        index: z.int().min(0),
        relevance_score: z.number(),
        /** With return_documents: the document as sent. */
        document: z.looseObject({ text: z.string() }).optional(),
      }),
    ),
    usage: EmbeddingUsageSchema,
  }),
  'RerankResultList',
  'Answer of POST /v1/rerank: the documents by relevance, best first (top_n of them), each with its index in the request.',
);
export type RerankResultList = z.infer<typeof RerankResultListSchema>;
