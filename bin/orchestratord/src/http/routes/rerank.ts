import type { Hono } from 'hono';
import { RerankRequestSchema, toOpenAIError } from '@llama-orch/contracts';
import { readBody, sendError } from '@llama-orch/http';
import type { AppDeps, AppEnv } from '../deps.ts';
import { relayTask, type RelayApi } from '../relay.ts';

/** Relayed to a pool of kind rerank; the task's kind (rerank) comes from the endpoint. */
const RERANK: RelayApi = {
  endpoint: '/v1/rerank',
  idPrefix: 'rerank',
  rewriteId: false,
  streamError: (envelope) => ({ data: toOpenAIError(envelope) }),
};

interface RerankAnswer {
  results?: { index: number; document?: { text: string } }[];
}

/**
 * `POST /v1/rerank` (ORCH-4041) in the common shape (Jina, Cohere, llama-server): `{model, query, documents, top_n,
 * return_documents}` → results best first, each with its `index` and `relevance_score` (llama-server's own answer),
 * plus `document: {text}` when return_documents asks for it. Same queue, placement, slots and metrics as completions.
 */
export function rerankRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post('/v1/rerank', async (c) => {
    const body = await readBody(c, RerankRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const { return_documents: returnDocuments, documents, ...request } = body.value;
    const texts = documents.map((document) => (typeof document === 'string' ? document : document.text));
    const answer = await relayTask(c, deps, RERANK, {
      body: { ...request, documents: texts },
      model: request.model,
      stream: false,
    });
    if (!returnDocuments || answer.status !== 200) return answer;
    const ranked = (await answer.json()) as RerankAnswer;
    for (const result of ranked.results ?? []) result.document = { text: texts[result.index] ?? '' };
    return c.json(ranked);
  });
}
