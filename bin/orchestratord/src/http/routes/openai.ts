import type { Context, Hono } from 'hono';
import {
  ChatCompletionRequestSchema,
  CompletionRequestSchema,
  errorEnvelope,
  ResponsesRequestSchema,
  toOpenAIError,
} from '@llama-orch/contracts';
import { readBody, sendError } from '@llama-orch/http';
import type { PoolView } from '../../placement/place.ts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { relayTask, type RelayApi } from '../relay.ts';

/** Inside an OpenAI stream, a failure is a chunk holding `error` (the openai client raises it as an APIError). */
const openAIStreamError: RelayApi['streamError'] = (envelope) => ({ data: toOpenAIError(envelope) });

const CHAT: RelayApi = {
  endpoint: '/v1/chat/completions',
  idPrefix: 'chatcmpl',
  rewriteId: true,
  streamError: openAIStreamError,
};
const COMPLETIONS: RelayApi = {
  endpoint: '/v1/completions',
  idPrefix: 'cmpl',
  rewriteId: true,
  streamError: openAIStreamError,
};
const RESPONSES: RelayApi = {
  endpoint: '/v1/responses',
  idPrefix: 'resp',
  rewriteId: false,
  streamError: (envelope) => ({
    event: 'error',
    data: { type: 'error', code: envelope.code.toLowerCase(), message: envelope.message, param: null },
  }),
};

/** Chat and text completions: the client's request goes to the engine as sent, bounded by a default max_tokens. */
async function complete(c: Context<AppEnv>, deps: AppDeps, api: RelayApi): Promise<Response> {
  const body =
    api === CHAT ? await readBody(c, ChatCompletionRequestSchema) : await readBody(c, CompletionRequestSchema);
  if (!body.ok) return sendError(c, body.envelope);
  const request = body.value as Record<string, unknown> & {
    model: string;
    stream: boolean;
    stream_options?: { include_usage?: boolean } | null;
  };
  const engineBody: Record<string, unknown> = { ...request };
  // Without a cap a request runs to the end of the context: the configured default bounds it.
  if (engineBody['max_tokens'] == null && engineBody['max_completion_tokens'] == null)
    engineBody['max_tokens'] = deps.defaultMaxTokens;
  if (api === COMPLETIONS && Array.isArray(request['prompt']))
    engineBody['prompt'] = (request['prompt'] as string[])[0];
  // stream_options goes as the client sent it: without a usage chunk the counts come from the last chunk's timings.
  return relayTask(c, deps, api, { body: engineBody, model: request.model, stream: request.stream });
}

/** OpenAI's Responses API, relayed to the engine's own implementation. */
async function respond(c: Context<AppEnv>, deps: AppDeps): Promise<Response> {
  const body = await readBody(c, ResponsesRequestSchema);
  if (!body.ok) return sendError(c, body.envelope);
  const request = body.value;
  if (request['previous_response_id'] != null)
    return sendError(
      c,
      errorEnvelope(
        'INVALID_PARAMS',
        'previous_response_id: responses are not stored here; send the whole conversation as input',
      ),
    );
  const engineBody: Record<string, unknown> = { ...request };
  if (engineBody['max_output_tokens'] == null) engineBody['max_output_tokens'] = deps.defaultMaxTokens;
  return relayTask(c, deps, RESPONSES, { body: engineBody, model: request.model, stream: request.stream });
}

/** The state a model is offered in: ready when one of its pools is. */
function stateOf(pools: readonly PoolView[]): string {
  return pools.find((p) => p.status.ready)?.status.state ?? pools[0]?.status.state ?? 'offline';
}

export function openaiRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  /** When this orchestratord first saw each model name: OpenAI's `created`. */
  const firstSeen = new Map<string, number>();
  app.get('/v1/models', (c) => {
    const byName = new Map<string, PoolView[]>();
    for (const view of deps.scheduler.views().filter((v) => v.available)) {
      // Both name the model: the pool's model ref, and its pool id (the short name people type).
      for (const name of new Set([view.status.model, view.status.pool_id]))
        byName.set(name, [...(byName.get(name) ?? []), view]);
    }
    const now = Math.floor(Date.now() / 1000);
    const data = [...byName.keys()].sort().map((id) => {
      const pools = byName.get(id) ?? [];
      if (!firstSeen.has(id)) firstSeen.set(id, now);
      const best = pools.find((p) => p.status.ready) ?? pools[0];
      return {
        id,
        object: 'model' as const,
        created: firstSeen.get(id) ?? now,
        owned_by: 'llama-orch',
        state: stateOf(pools),
        pool_id: best?.status.pool_id ?? id,
        load: best?.status.load ?? 'always',
        memory_estimate_bytes: best?.status.memory_estimate_bytes ?? null,
      };
    });
    return c.json({ object: 'list' as const, data });
  });
  app.post('/v1/chat/completions', (c) => complete(c, deps, CHAT));
  app.post('/v1/completions', (c) => complete(c, deps, COMPLETIONS));
  app.post('/v1/responses', (c) => respond(c, deps));
  app.all('/v1/responses/*', (c) =>
    sendError(
      c,
      errorEnvelope('NOT_FOUND', `${c.req.path}: stored responses are not kept; send the whole conversation`),
    ),
  );
}
