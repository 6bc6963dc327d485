import { POOL_READY_CALLBACK_PATH } from '../callbacks.ts';
import { API_VERSION } from '../meta.ts';
import { buildDocument, type OperationSpec, type ResponseSpec } from './document.ts';
import { embeddingOperations } from './embedding-operations.ts';
import { overviewOperations } from './overview-operations.ts';
import { usageOperations } from './usage-operations.ts';
import { taskStatusOperations } from './task-status-operations.ts';

const envelope = (description: string): ResponseSpec => ({ description, json: 'ErrorEnvelope' });
const openaiError = (description: string): ResponseSpec => ({ description, json: 'OpenAIErrorResponse' });
const anthropicError = (description: string): ResponseSpec => ({ description, json: 'AnthropicErrorResponse' });
const backpressure: ResponseSpec = {
  description: 'Admission queue full; retry after the advised delay.',
  json: 'ErrorEnvelope',
  headers: ['Retry-After', 'X-Backoff-Ms'],
};
const openaiBackpressure: ResponseSpec = { ...backpressure, json: 'OpenAIErrorResponse' };
/** A retriable 503 (POOL_UNAVAILABLE) carries the same advice as a 429. */
const unavailable = (spec: ResponseSpec): ResponseSpec => ({ ...spec, headers: ['Retry-After', 'X-Backoff-Ms'] });
const unauthorized = envelope('Missing or unknown API key (CLOUD profile).');

function openaiCompletion(path: string, operationId: string, body: string, full: string, chunk: string): OperationSpec {
  return {
    method: 'post',
    path,
    operationId,
    summary: `OpenAI-compatible ${path}; stream: true answers with ${chunk} frames and data: [DONE].`,
    tags: ['openai'],
    body,
    responses: {
      200: { description: 'The completion, or its stream.', json: full, sse: chunk },
      400: openaiError('Invalid request; the message names the field.'),
      401: openaiError('Missing or unknown API key.'),
      404: openaiError('No ready pool serves this model.'),
      429: openaiBackpressure,
      503: unavailable(openaiError('No pool is available.')),
    },
  };
}

export const dataPlaneOperations: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/health',
    operationId: 'getHealth',
    summary: 'Liveness.',
    tags: ['ops'],
    security: 'none',
    responses: { 200: { description: 'Alive.', json: 'Health' } },
  },
  {
    method: 'get',
    path: '/ready',
    operationId: 'getReady',
    summary: 'Readiness: at least one pool is ready.',
    tags: ['ops'],
    security: 'none',
    responses: {
      200: { description: 'Ready.', json: 'Readiness' },
      503: { description: 'Not ready.', json: 'Readiness' },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics.',
    tags: ['ops'],
    security: 'none',
    responses: { 200: { description: 'Prometheus text exposition.', text: true } },
  },
  {
    method: 'get',
    path: '/v1/models',
    operationId: 'listModels',
    summary: 'Every model a reachable pool serves, with the state of its best pool.',
    tags: ['openai'],
    responses: {
      200: { description: 'Model list.', json: 'ModelList' },
      401: openaiError('Missing or unknown API key.'),
    },
  },
  openaiCompletion(
    '/v1/chat/completions',
    'createChatCompletion',
    'ChatCompletionRequest',
    'ChatCompletion',
    'ChatCompletionChunk',
  ),
  openaiCompletion('/v1/completions', 'createCompletion', 'CompletionRequest', 'Completion', 'CompletionChunk'),
  {
    ...openaiCompletion('/v1/responses', 'createResponse', 'ResponsesRequest', 'ResponseObject', 'ResponseStreamEvent'),
    summary: "OpenAI's Responses API, relayed to the engine; stream: true answers with its named events.",
  },
  {
    method: 'post',
    path: '/v1/messages',
    operationId: 'createMessage',
    summary:
      "Anthropic's Messages API (x-api-key accepted), relayed to the engine; stream: true answers with its events.",
    tags: ['anthropic'],
    body: 'MessagesRequest',
    responses: {
      200: { description: 'The message, or its stream.', json: 'AnthropicMessage', sse: 'MessageStreamEvent' },
      400: anthropicError('Invalid request; the message names the field.'),
      401: anthropicError('Missing or unknown API key.'),
      404: anthropicError('No pool serves this model.'),
      429: { ...backpressure, json: 'AnthropicErrorResponse' },
      503: unavailable(anthropicError('No pool is available.')),
    },
  },
  {
    method: 'post',
    path: '/v1/messages/count_tokens',
    operationId: 'countMessageTokens',
    summary: 'Tokens a Messages API request would take, counted by the engine.',
    tags: ['anthropic'],
    body: 'CountTokensRequest',
    responses: {
      200: { description: 'The count.', json: 'TokenCount' },
      400: anthropicError('Invalid request; the message names the field.'),
      401: anthropicError('Missing or unknown API key.'),
    },
  },
  {
    method: 'post',
    path: '/v2/tasks',
    operationId: 'createTask',
    summary:
      'Admit a task into the queue (the llama-orch TaskRequestV2 contract; a value this deployment cannot serve is a 400 naming the field).',
    tags: ['tasks'],
    body: 'TaskRequest',
    responses: {
      202: {
        description: 'Admitted. A turn of a session with a tokens or time budget carries what is left.',
        json: 'AdmissionResponse',
        headers: ['X-Budget-Tokens-Remaining', 'X-Budget-Time-Remaining-Ms'],
      },
      200: {
        description:
          'The same request (same task_id, same body, same identity) was submitted before and has finished: its status, from the task journal; a live one answers 202 again with the same stream.',
        json: 'TaskStatus',
      },
      400: envelope(
        'Invalid request, or a value not served here (INVALID_PARAMS: engine, workload, output_mode edits, a device mask or ctx no pool meets; DEADLINE_UNMET); the message names the field.',
      ),
      401: unauthorized,
      404: envelope('No pool serves model_ref (MODEL_NOT_AVAILABLE).'),
      409: envelope('This task_id belongs to another request: a different body or identity (CONFLICT).'),
      429: {
        ...backpressure,
        description:
          'Admission queue full (ADMISSION_REJECT; retry after the advised delay), or a session budget or the identity’s daily budget used up (BUDGET_EXCEEDED; the message names the budget, and Retry-After says when a daily one resets).',
      },
      503: unavailable(
        envelope(
          'No pool is available (POOL_UNAVAILABLE), or placement.node_id names a node that is unknown or silent (NODE_UNAVAILABLE).',
        ),
      ),
    },
  },
  {
    method: 'get',
    path: '/v2/tasks/{id}/events',
    operationId: 'streamTaskEvents',
    summary:
      'started → token* (metrics interleaved) → exactly one of end | error. With ?queued=true, also queued events (position, predicted_start_ms, queue_depth) while the task waits.',
    tags: ['tasks'],
    responses: {
      200: { description: 'The task event stream.', sse: 'TaskEvent' },
      401: unauthorized,
      404: envelope('Unknown task (NOT_FOUND).'),
    },
  },
  {
    method: 'post',
    path: '/v2/tasks/{id}/cancel',
    operationId: 'cancelTask',
    summary: 'Cancel a queued or running task; no token follows.',
    tags: ['tasks'],
    responses: { 204: { description: 'Canceled.' }, 401: unauthorized, 404: envelope('Unknown task (NOT_FOUND).') },
  },
  {
    method: 'get',
    path: '/v2/sessions/{id}',
    operationId: 'getSession',
    summary: 'Session TTL, turns, KV warmth and what its budgets have left.',
    tags: ['sessions'],
    responses: {
      200: { description: 'The session.', json: 'SessionInfo' },
      401: unauthorized,
      404: envelope('Unknown or expired session (NOT_FOUND).'),
    },
  },
  {
    method: 'delete',
    path: '/v2/sessions/{id}',
    operationId: 'deleteSession',
    summary: 'Forget a session.',
    tags: ['sessions'],
    responses: { 204: { description: 'Deleted.' }, 401: unauthorized, 404: envelope('Unknown session (NOT_FOUND).') },
  },
  {
    method: 'get',
    path: '/v2/meta/capabilities',
    operationId: 'getCapabilities',
    summary: 'Engines, models, slots and admission policy seen now.',
    tags: ['meta'],
    responses: { 200: { description: 'Capabilities.', json: 'Capabilities' }, 401: unauthorized },
  },
  {
    method: 'get',
    path: '/v2/meta/version',
    operationId: 'getVersion',
    summary: 'API and build version.',
    tags: ['meta'],
    responses: { 200: { description: 'Version.', json: 'VersionInfo' }, 401: unauthorized },
  },
  {
    method: 'get',
    path: '/v2/pools',
    operationId: 'listPools',
    summary: 'Every pool of every pool-managerd, as last polled.',
    tags: ['pools'],
    responses: { 200: { description: 'Pools.', json: 'PoolList' }, 401: unauthorized },
  },
  {
    method: 'get',
    path: '/v2/pools/{id}/health',
    operationId: 'getPoolHealth',
    summary: 'Health of one pool.',
    tags: ['pools'],
    responses: {
      200: { description: 'Pool health.', json: 'PoolHealth' },
      401: unauthorized,
      404: envelope('Unknown pool.'),
    },
  },
  {
    method: 'post',
    path: '/v2/pools/{id}/drain',
    operationId: 'drainPool',
    summary: 'Forwarded to the owning pool-managerd.',
    tags: ['pools'],
    body: 'DrainRequest',
    responses: {
      200: { description: 'Drained; the pool is offline.', json: 'DrainResponse' },
      400: envelope('Invalid request.'),
      401: unauthorized,
      404: envelope('Unknown pool.'),
      503: unavailable(envelope('The owning pool-managerd is unreachable.')),
    },
  },
  {
    method: 'post',
    path: '/v2/pools/{id}/reload',
    operationId: 'reloadPool',
    summary: 'Forwarded to the owning pool-managerd.',
    tags: ['pools'],
    body: 'ReloadRequest',
    responses: {
      200: { description: 'Reload outcome (rolled_back when the new model failed).', json: 'ReloadResponse' },
      400: envelope('Invalid request.'),
      401: unauthorized,
      404: envelope('Unknown pool.'),
      409: envelope('A reload or drain is already in progress.'),
      503: unavailable(envelope('The owning pool-managerd is unreachable.')),
    },
  },
  {
    method: 'post',
    path: '/v2/pools/{id}/load',
    operationId: 'loadPool',
    summary: 'Forwarded to the owning pool-managerd: load a pool loaded on demand now, before a task needs it (admin).',
    tags: ['pools'],
    responses: {
      200: { description: 'Loaded already.', json: 'LoadResponse' },
      202: { description: 'Loading; waiting_for says what it waits for.', json: 'LoadResponse' },
      401: unauthorized,
      404: envelope('Unknown pool.'),
      409: envelope('Its pool-managerd starts no engine (handoff files only).'),
      503: unavailable(envelope('The owning pool-managerd is unreachable.')),
    },
  },
  {
    method: 'post',
    path: POOL_READY_CALLBACK_PATH,
    operationId: 'poolReadyCallback',
    summary:
      "pool-managerd's readiness callback (ARCHITECTURE §7, optional): orchestratord polls the nodes at once. Polling stays the source of truth.",
    tags: ['callbacks'],
    body: 'PoolReadyCallback',
    security: ['clientCertificate'],
    responses: {
      202: { description: 'Taken; a poll follows.' },
      400: envelope('Invalid body (INVALID_PARAMS); the message names the field.'),
      401: envelope(
        'No client certificate from the cluster CA (over HTTPS), or not a loopback caller (over plain HTTP).',
      ),
    },
  },
];

const securitySchemes = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description: 'API key (CLOUD profile; optional from loopback in HOME).',
  },
  apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same API key, as a header.' },
  clientCertificate: {
    type: 'mutualTLS',
    description:
      "pool-managerd's client certificate from the cluster CA (readiness callbacks); over plain HTTP only loopback callers.",
  },
};

export function buildDataPlaneDocument(): Record<string, unknown> {
  return buildDocument({
    title: 'llama-orch orchestratord data plane',
    version: API_VERSION,
    description:
      'Client-facing API of orchestratord: OpenAI-compatible /v1 routes and native /v2 tasks with SSE events. Generated from libs/contracts; do not edit by hand.',
    securitySchemes,
    // Clients authenticate with the API schemes; the client certificate is only for pool-managerd's callback.
    defaultSecurity: Object.keys(securitySchemes).filter((name) => name !== 'clientCertificate'),
    operations: [
      ...dataPlaneOperations,
      ...embeddingOperations,
      ...taskStatusOperations,
      ...overviewOperations,
      ...usageOperations,
    ],
  });
}
