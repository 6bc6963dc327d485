/** Embeddings and rerank (issue 17). */
import { type ShapeExamples } from './shape-examples.ts';

const usage = { prompt_tokens: 7, total_tokens: 7 };

export const embeddingsExamples: Record<string, ShapeExamples> = {
  EmbeddingRequest: {
    valid: [
      { name: 'a string', value: { model: 'embed', input: 'hello' } },
      { name: 'strings as base64', value: { model: 'embed', input: ['a', 'b'], encoding_format: 'base64' } },
      { name: 'token ids', value: { model: 'embed', input: [1, 2, 3] } },
      { name: 'arrays of token ids', value: { model: 'embed', input: [[1, 2], [3]] } },
    ],
    invalid: [
      { name: 'no input', value: { model: 'embed' }, field: 'input' },
      { name: 'an empty string', value: { model: 'embed', input: '' }, field: 'input' },
      { name: 'an empty list', value: { model: 'embed', input: [] }, field: 'input' },
      {
        name: 'an unknown format',
        value: { model: 'embed', input: 'a', encoding_format: 'int8' },
        field: 'encoding_format',
      },
      { name: 'zero dimensions', value: { model: 'embed', input: 'a', dimensions: 0 }, field: 'dimensions' },
    ],
  },
  EmbeddingList: {
    valid: [
      {
        name: 'two vectors',
        value: {
          object: 'list',
          model: 'embed',
          data: [
            { object: 'embedding', index: 0, embedding: [0.1, 0.2] },
            { object: 'embedding', index: 1, embedding: [0.3, 0.4] },
          ],
          usage,
        },
      },
      {
        name: 'a base64 vector',
        value: {
          object: 'list',
          model: 'embed',
          data: [{ object: 'embedding', index: 0, embedding: 'AACAPw==' }],
          usage,
        },
      },
    ],
    invalid: [
      { name: 'no usage', value: { object: 'list', model: 'embed', data: [] }, field: 'usage' },
      {
        name: 'a negative index',
        value: { object: 'list', model: 'embed', data: [{ object: 'embedding', index: -1, embedding: [] }], usage },
        field: 'data[0].index',
      },
    ],
  },
  RerankRequest: {
    valid: [
      { name: 'strings', value: { model: 'rerank', query: 'q', documents: ['a', 'b'], top_n: 1 } },
      {
        name: 'documents as objects, returned',
        value: { model: 'rerank', query: 'q', documents: [{ text: 'a' }], return_documents: true },
      },
    ],
    invalid: [
      { name: 'no documents', value: { model: 'rerank', query: 'q', documents: [] }, field: 'documents' },
      { name: 'no query', value: { model: 'rerank', documents: ['a'] }, field: 'query' },
      { name: 'top_n of 0', value: { model: 'rerank', query: 'q', documents: ['a'], top_n: 0 }, field: 'top_n' },
    ],
  },
  RerankResultList: {
    valid: [
      {
        name: 'two results, best first',
        value: {
          object: 'list',
          model: 'rerank',
          results: [
            { index: 1, relevance_score: 0.9, document: { text: 'b' } },
            { index: 0, relevance_score: 0.1 },
          ],
          usage,
        },
      },
    ],
    invalid: [
      {
        name: 'a result without a score',
        value: { model: 'rerank', results: [{ index: 0 }], usage },
        field: 'results[0].relevance_score',
      },
    ],
  },
};
