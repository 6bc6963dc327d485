import type { Hono } from 'hono';
import { CountTokensRequestSchema, MessagesRequestSchema, toAnthropicError } from '@llama-orch/contracts';
import { readBody, sendError } from '@llama-orch/http';
import type { AppDeps, AppEnv } from '../deps.ts';
import { relayTask, type RelayApi } from '../relay.ts';

/** Inside an Anthropic stream, a failure is an `error` event (the SDK raises it). */
const streamError: RelayApi['streamError'] = (envelope) => ({ event: 'error', data: toAnthropicError(envelope) });

const MESSAGES: RelayApi = { endpoint: '/v1/messages', idPrefix: 'msg', rewriteId: false, streamError };
const COUNT_TOKENS: RelayApi = {
  endpoint: '/v1/messages/count_tokens',
  idPrefix: 'count',
  rewriteId: false,
  streamError,
};

/**
 * Anthropic's Messages API, which coding agents speak, relayed to the engine's own implementation through the same
 * queue, placement, slots and metrics as every task. Errors come in Anthropic's shape (see sendError); the key may
 * come as `x-api-key`, as Anthropic's clients send it.
 */
export function anthropicRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post('/v1/messages', async (c) => {
    const body = await readBody(c, MessagesRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    const request = body.value;
    return relayTask(c, deps, MESSAGES, {
      body: { ...request },
      model: request.model,
      stream: request.stream,
    });
  });
  app.post('/v1/messages/count_tokens', async (c) => {
    const body = await readBody(c, CountTokensRequestSchema);
    if (!body.ok) return sendError(c, body.envelope);
    return relayTask(c, deps, COUNT_TOKENS, {
      body: { ...body.value },
      model: body.value.model,
      stream: false,
    });
  });
}
