import { z } from 'zod';
import { named } from './registry.ts';

/**
 * The error-code catalogue. HTTP status and default retriability are mapped here and nowhere else.
 * `retriable` is the default for the code; a producer may still say otherwise for one answer.
 */
export const errorCatalogue = {
  ADMISSION_REJECT: { status: 429, retriable: true, meaning: 'The admission queue is full and the policy is reject.' },
  QUEUE_FULL_DROP_LRU: {
    status: 429,
    retriable: true,
    meaning: 'The task was evicted from a full queue by the drop-lru policy.',
  },
  INVALID_PARAMS: { status: 400, retriable: false, meaning: 'The request is malformed; the message names the field.' },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    retriable: false,
    meaning: 'The request body is larger than the configured limit.',
  },
  POOL_UNREADY: {
    status: 503,
    retriable: true,
    meaning: 'The pool exists but is not ready (starting, draining, reloading).',
  },
  POOL_UNAVAILABLE: { status: 503, retriable: true, meaning: 'No pool that could serve the request is reachable.' },
  NODE_UNAVAILABLE: {
    status: 503,
    retriable: true,
    meaning: 'The node named by placement.node_id is unknown to orchestratord or unreachable now.',
  },
  BUDGET_EXCEEDED: {
    status: 429,
    retriable: false,
    meaning:
      "A budget is used up (a session's turns, tokens or time, or an identity's tokens or GPU-seconds per day); the message names which and when it resets.",
  },
  REPLICA_EXHAUSTED: { status: 503, retriable: true, meaning: 'Every slot of the pool is busy.' },
  TOO_MANY_STREAMS: {
    status: 429,
    retriable: true,
    meaning: 'The caller already holds the most open event streams one client may.',
  },
  DECODE_TIMEOUT: {
    status: 500,
    retriable: true,
    meaning: 'The engine stopped producing tokens within the time limit.',
  },
  WORKER_RESET: {
    status: 500,
    retriable: true,
    meaning: 'The engine connection or process went away during the request.',
  },
  INTERNAL: { status: 500, retriable: false, meaning: 'A bug or an unexpected failure inside llama-orch.' },
  DEADLINE_UNMET: { status: 400, retriable: false, meaning: 'The task cannot start before its deadline_ms.' },
  MODEL_DEPRECATED: { status: 403, retriable: false, meaning: 'The model is retired and no longer served.' },
  UNTRUSTED_ARTIFACT: { status: 400, retriable: false, meaning: 'A model or engine artifact failed verification.' },
  MODEL_NOT_AVAILABLE: { status: 404, retriable: false, meaning: 'No configured pool serves the requested model.' },
  UNAUTHORIZED: { status: 401, retriable: false, meaning: 'Missing or unknown API key or client certificate.' },
  FORBIDDEN: { status: 403, retriable: false, meaning: 'The caller is known but may not do this.' },
  NOT_FOUND: { status: 404, retriable: false, meaning: 'The task, session, pool or route does not exist.' },
  CONFLICT: {
    status: 409,
    retriable: false,
    meaning: 'The resource is in a state that forbids this (e.g. a task_id reused for another request).',
  },
  JOURNAL_UNAVAILABLE: {
    status: 503,
    retriable: true,
    meaning: 'The task journal and usage ledger (ORCHD_DATABASE_URL) is not configured, or cannot be reached now.',
  },
  ORCHESTRATOR_RESTART: {
    status: 503,
    retriable: true,
    meaning: 'orchestratord stopped (crashed or was killed) while the task was queued or running; submit it again.',
  },
} as const satisfies Record<string, { status: number; retriable: boolean; meaning: string }>;

export type ErrorCode = keyof typeof errorCatalogue;
export const errorCodes = Object.keys(errorCatalogue) as [ErrorCode, ...ErrorCode[]];
export const ErrorCodeSchema = named(z.enum(errorCodes), 'ErrorCode', 'Stable error code; see the error catalogue.');

export function httpStatusOf(code: ErrorCode): number {
  return errorCatalogue[code].status;
}

export const ErrorEnvelopeSchema = named(
  z.strictObject({
    code: ErrorCodeSchema,
    message: z.string().min(1),
    retriable: z.boolean().optional(),
    retry_after_ms: z.int().min(0).optional(),
    policy_label: z.string().min(1).optional(),
    engine: z.string().min(1).optional(),
  }),
  'ErrorEnvelope',
  'Error body of every native (non-OpenAI) route.',
);
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

/** Build an envelope with the catalogue's default retriability filled in. */
export function errorEnvelope(
  code: ErrorCode,
  message: string,
  extra: Omit<Partial<ErrorEnvelope>, 'code' | 'message'> = {},
): ErrorEnvelope {
  return { code, message, retriable: errorCatalogue[code].retriable, ...extra };
}

export const OpenAIErrorResponseSchema = named(
  z.strictObject({
    error: z.strictObject({
      message: z.string().min(1),
      type: z.string().min(1),
      param: z.string().nullable(),
      code: z.string().nullable(),
    }),
  }),
  'OpenAIErrorResponse',
  'Error body of the OpenAI-compatible /v1 routes.',
);
export type OpenAIErrorResponse = z.infer<typeof OpenAIErrorResponseSchema>;

function openAIErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Anthropic's error types by HTTP status (what its SDKs map to their exception classes). */
function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** The envelope in Anthropic's Messages API shape; the code stays readable in the message. */
export function toAnthropicError(
  envelope: ErrorEnvelope,
  status: number = httpStatusOf(envelope.code),
): { type: 'error'; error: { type: string; message: string } } {
  return {
    type: 'error',
    error: { type: anthropicErrorType(status), message: `${envelope.code}: ${envelope.message}` },
  };
}

/** The same error in OpenAI's shape; `param` names the offending field when there is one. */
export function toOpenAIError(
  envelope: ErrorEnvelope,
  param: string | null = null,
  status: number = httpStatusOf(envelope.code),
): OpenAIErrorResponse {
  return {
    error: {
      message: envelope.message,
      type: openAIErrorType(status),
      param,
      code: envelope.code.toLowerCase(),
    },
  };
}
