import type { Hono } from 'hono';
import { EmbeddingRequestSchema, errorEnvelope, toOpenAIError } from '@llama-orch/contracts';
import { readBody, sendError } from '@llama-orch/http';
import type { AppDeps, AppEnv } from '../deps.ts';
import { relayTask, type RelayApi } from '../relay.ts';

/** Relayed to a pool of kind embedding; the task's kind (embedding) comes from the endpoint. */
const EMBEDDINGS: RelayApi = {
  endpoint: '/v1/embeddings',
  idPrefix: 'embd',
  rewriteId: false,
  streamError: (envelope) => ({ data: toOpenAIError(envelope) }),
};

/**
 * OpenAI's `POST /v1/embeddings` (ORCH-4040): a string, strings, token ids or arrays of token ids, as floats or
 * base64, answered by llama-server's own OpenAI-shaped body through the same queue, placement, slots and metrics as
 * completions. `dimensions` is refused by name: llama-server answers the model's own size and cannot shorten it.
 */
export function embeddingRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post('/v1/embeddings', async (c) => {
    const body = await readBody(c, EmbeddingRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const { dimensions, user: _user, ...request } = body.value;
    if (dimensions !== undefined)
      return sendError(
        c,
        errorEnvelope(
          'INVALID_PARAMS',
          `dimensions: not supported: the vectors have the model's own size (leave dimensions out)`,
        ),
      );
    return relayTask(c, deps, EMBEDDINGS, { body: request, model: request.model, stream: false });
  });
}
