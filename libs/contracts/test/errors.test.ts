import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorCatalogue, errorCodes, errorEnvelope, httpStatusOf, toOpenAIError } from '../src/index.ts';

describe('error catalogue', () => {
  test('holds every ErrorKind of the reference design plus UNAUTHORIZED, FORBIDDEN and NOT_FOUND', () => {
    const required = [
      'ADMISSION_REJECT',
      'QUEUE_FULL_DROP_LRU',
      'INVALID_PARAMS',
      'POOL_UNREADY',
      'POOL_UNAVAILABLE',
      'REPLICA_EXHAUSTED',
      'DECODE_TIMEOUT',
      'WORKER_RESET',
      'INTERNAL',
      'DEADLINE_UNMET',
      'MODEL_DEPRECATED',
      'UNTRUSTED_ARTIFACT',
      'UNAUTHORIZED',
      'FORBIDDEN',
      'NOT_FOUND',
    ];
    for (const code of required) assert.ok(errorCodes.includes(code as never), `${code} missing`);
  });

  test('maps backpressure to 429, bad input to 4xx and only engine or internal failures to 5xx', () => {
    assert.equal(httpStatusOf('ADMISSION_REJECT'), 429);
    assert.equal(httpStatusOf('QUEUE_FULL_DROP_LRU'), 429);
    assert.equal(httpStatusOf('INVALID_PARAMS'), 400);
    assert.equal(httpStatusOf('UNAUTHORIZED'), 401);
    assert.equal(httpStatusOf('FORBIDDEN'), 403);
    assert.equal(httpStatusOf('NOT_FOUND'), 404);
    assert.equal(httpStatusOf('CONFLICT'), 409);
    const serverSide = new Set([
      'POOL_UNREADY',
      'POOL_UNAVAILABLE',
      'NODE_UNAVAILABLE',
      'REPLICA_EXHAUSTED',
      'DECODE_TIMEOUT',
      'WORKER_RESET',
      'INTERNAL',
      'JOURNAL_UNAVAILABLE',
      'ORCHESTRATOR_RESTART',
    ]);
    for (const code of errorCodes) {
      assert.equal(httpStatusOf(code) >= 500, serverSide.has(code), `${code} → ${httpStatusOf(code)}`);
    }
  });

  test('fills retriability from the catalogue and keeps explicit extras', () => {
    assert.deepEqual(errorEnvelope('ADMISSION_REJECT', 'queue full', { retry_after_ms: 800, policy_label: 'reject' }), {
      code: 'ADMISSION_REJECT',
      message: 'queue full',
      retriable: true,
      retry_after_ms: 800,
      policy_label: 'reject',
    });
    assert.equal(errorEnvelope('INVALID_PARAMS', 'x').retriable, false);
    for (const code of errorCodes) assert.equal(typeof errorCatalogue[code].meaning, 'string');
  });

  test('renders the same error in the OpenAI shape with a type per status', () => {
    assert.deepEqual(toOpenAIError(errorEnvelope('INVALID_PARAMS', 'messages: required'), 'messages'), {
      error: {
        message: 'messages: required',
        type: 'invalid_request_error',
        param: 'messages',
        code: 'invalid_params',
      },
    });
    assert.equal(toOpenAIError(errorEnvelope('ADMISSION_REJECT', 'full')).error.type, 'rate_limit_error');
    assert.equal(toOpenAIError(errorEnvelope('UNAUTHORIZED', 'no key')).error.type, 'authentication_error');
    assert.equal(toOpenAIError(errorEnvelope('INTERNAL', 'bug')).error.type, 'server_error');
  });
});
