/** The /v2 task request, admission and event shapes. */
import type { ShapeExamples } from './shape-examples.ts';

const task = { model_ref: 'demo', prompt: 'Say hello' };

export const tasksExamples: Record<string, ShapeExamples> = {
  Priority: {
    valid: [{ name: 'batch', value: 'batch' }],
    invalid: [{ name: 'an unknown priority', value: 'urgent', field: '(root)' }],
  },
  Placement: {
    valid: [
      { name: 'a pin', value: { mode: 'pin', pin_pool_id: 'gpu0' } },
      {
        name: 'a preference without fallback',
        value: { mode: 'prefer', prefer_pools: ['gpu1'], allow_fallback: false },
      },
      { name: 'an avoid list', value: { avoid_pools: ['gpu0'] } },
    ],
    invalid: [
      { name: 'a pin without pool', value: { mode: 'pin' }, field: 'pin_pool_id', refined: true },
      { name: 'an unknown mode', value: { mode: 'random' }, field: 'mode' },
      { name: 'a bad pool id', value: { avoid_pools: ['GPU 0'] }, field: 'avoid_pools[0]' },
    ],
  },
  ChatMessage: {
    valid: [
      { name: 'a user turn', value: { role: 'user', content: 'hi' } },
      { name: 'content parts', value: { role: 'user', content: [{ type: 'text', text: 'hi' }] } },
    ],
    invalid: [{ name: 'an unknown role', value: { role: 'robot', content: 'hi' }, field: 'role' }],
  },
  TaskRequest: {
    valid: [
      { name: 'a prompt', value: task },
      {
        name: 'everything',
        value: {
          ...task,
          task_id: 't-1',
          session_id: 's-1',
          max_tokens: 64,
          priority: 'batch',
          deadline_ms: 5000,
          seed: 7,
          temperature: 0,
          top_k: 40,
          stop: ['\n'],
          placement: { mode: 'prefer', prefer_pools: ['gpu1'] },
        },
      },
      { name: 'messages', value: { model_ref: 'demo', messages: [{ role: 'user', content: 'hi' }] } },
    ],
    invalid: [
      { name: 'no model_ref', value: { prompt: 'x' }, field: 'model_ref' },
      { name: 'zero max_tokens', value: { ...task, max_tokens: 0 }, field: 'max_tokens' },
      { name: 'a fractional max_tokens', value: { ...task, max_tokens: 1.5 }, field: 'max_tokens' },
      { name: 'an unknown priority', value: { ...task, priority: 'now' }, field: 'priority' },
      { name: 'a zero deadline', value: { ...task, deadline_ms: 0 }, field: 'deadline_ms' },
      { name: 'an unknown key', value: { ...task, promt: 'typo' }, field: 'promt' },
      {
        name: 'both prompt and messages',
        value: { ...task, messages: [{ role: 'user', content: 'x' }] },
        field: 'prompt',
        refined: true,
      },
      { name: 'a task_id with spaces', value: { ...task, task_id: 'a b' }, field: 'task_id' },
      {
        name: 'a nested placement error',
        value: { ...task, placement: { mode: 'pin' } },
        field: 'placement.pin_pool_id',
        refined: true,
      },
    ],
  },
  AdmissionResponse: {
    valid: [
      {
        name: 'an admission',
        value: {
          task_id: 't-1',
          queue_position: 0,
          predicted_start_ms: 120,
          backoff_ms: 0,
          streams: { sse: '/v2/tasks/t-1/events' },
        },
      },
    ],
    invalid: [
      {
        name: 'a negative position',
        value: {
          task_id: 't-1',
          queue_position: -1,
          predicted_start_ms: 0,
          backoff_ms: 0,
          streams: { sse: '/v2/tasks/t-1/events' },
        },
        field: 'queue_position',
      },
      {
        name: 'no streams',
        value: { task_id: 't-1', queue_position: 0, predicted_start_ms: 0, backoff_ms: 0 },
        field: 'streams',
      },
    ],
  },
  StartedEvent: {
    valid: [
      {
        name: 'a start on a pool',
        value: { queue_position: 0, predicted_start_ms: 0, pool_id: 'demo', replica_id: 'r0' },
      },
    ],
    invalid: [{ name: 'no position', value: { predicted_start_ms: 0 }, field: 'queue_position' }],
  },
  TokenEvent: {
    valid: [{ name: 'a token', value: { t: ' world', i: 1 } }],
    invalid: [
      { name: 'a negative index', value: { t: 'x', i: -1 }, field: 'i' },
      { name: 'a missing text', value: { i: 0 }, field: 't' },
    ],
  },
  MetricsEvent: {
    valid: [{ name: 'figures with an extra key', value: { queue_depth: 2, tokens_per_s: 1234.5, custom: 'ok' } }],
    invalid: [{ name: 'a probability above 1', value: { on_time_probability: 2 }, field: 'on_time_probability' }],
  },
  EndEvent: {
    valid: [{ name: 'a finished task', value: { tokens_out: 12, decode_ms: 40, finish_reason: 'length' } }],
    invalid: [{ name: 'no decode_ms', value: { tokens_out: 12 }, field: 'decode_ms' }],
  },
  ErrorEvent: {
    valid: [{ name: 'an eviction', value: { code: 'QUEUE_FULL_DROP_LRU', message: 'evicted', retriable: true } }],
    invalid: [{ name: 'no retriable', value: { code: 'INTERNAL', message: 'x' }, field: 'retriable' }],
  },
  TaskEvent: {
    valid: [
      { name: 'a started event', value: { event: 'started', data: { queue_position: 0, predicted_start_ms: 0 } } },
      { name: 'a token event', value: { event: 'token', data: { t: 'a', i: 0 } } },
      { name: 'a metrics event', value: { event: 'metrics', data: { queue_depth: 0 } } },
      { name: 'an end event', value: { event: 'end', data: { tokens_out: 1, decode_ms: 3 } } },
      {
        name: 'an error event',
        value: { event: 'error', data: { code: 'WORKER_RESET', message: 'gone', retriable: true } },
      },
    ],
    invalid: [
      { name: 'an unknown event name', value: { event: 'done', data: {} }, field: 'event' },
      { name: 'a token without index', value: { event: 'token', data: { t: 'a' } }, field: 'data.i' },
    ],
  },
};
