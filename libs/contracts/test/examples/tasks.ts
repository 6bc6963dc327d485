/** The /v2 task request, admission and event shapes. */
import type { ShapeExamples } from './shape-examples.ts';

const task = { model_ref: 'demo', prompt: 'Say hello' };

export const tasksExamples: Record<string, ShapeExamples> = {
  Priority: {
    valid: [{ name: 'batch', value: 'batch' }],
    invalid: [{ name: 'an unknown priority', value: 'urgent', field: '(root)' }],
  },
  DeviceMask: {
    valid: [
      { name: 'GPUs 0 and 1', value: '0,1' },
      { name: 'a CPU pool', value: 'cpu' },
    ],
    invalid: [
      { name: 'a repeated GPU', value: '0,0', field: '(root)', refined: true },
      { name: 'a CUDA-style list with spaces', value: '0, 1', field: '(root)' },
    ],
  },
  Placement: {
    valid: [
      { name: 'a pin', value: { mode: 'pin', pin_pool_id: 'gpu0' } },
      { name: 'a node and a device mask', value: { node_id: 'node-a', require_device_mask: '0,1' } },
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
      { name: 'a bad node id', value: { node_id: 'Node A' }, field: 'node_id' },
      { name: 'a bad device mask', value: { require_device_mask: 'gpu0' }, field: 'require_device_mask' },
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
      {
        name: "the llama-orch contract's TaskRequestV2",
        value: {
          task_id: '11111111-1111-4111-8111-111111111111',
          session_id: '22222222-2222-4222-8222-222222222222',
          workload: 'completion',
          model_ref: 'demo',
          engine: 'llamacpp',
          ctx: 2048,
          priority: 'interactive',
          seed: 123456789,
          determinism: 'strict',
          sampler_profile_version: 'v1',
          prompt: 'Say hello',
          max_tokens: 64,
          deadline_ms: 30000,
          expected_tokens: 64,
          kv_hint: 'reuse',
          output_mode: 'text',
          placement: { mode: 'pin', pin_pool_id: 'demo', allow_fallback: false, node_id: 'node-a' },
          session_budget: { max_turns: 20, tokens: 4000, time_ms: 60000 },
        },
      },
      { name: 'an engine the contract knows (refused by orchestratord, not here)', value: { ...task, engine: 'vllm' } },
      { name: 'an embedding workload with inputs', value: { model_ref: 'demo', workload: 'embedding', inputs: ['a'] } },
      { name: 'a rerank workload', value: { model_ref: 'demo', workload: 'rerank', prompt: 'q', inputs: ['a', 'b'] } },
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
      { name: 'an unknown engine', value: { ...task, engine: 'exllama' }, field: 'engine' },
      { name: 'an unknown workload', value: { ...task, workload: 'chat' }, field: 'workload' },
      {
        name: 'an unknown sampler profile',
        value: { ...task, sampler_profile_version: 'v2' },
        field: 'sampler_profile_version',
      },
      { name: 'strict without a seed', value: { ...task, determinism: 'strict' }, field: 'seed', refined: true },
      { name: 'an unknown kv_hint', value: { ...task, kv_hint: 'warm' }, field: 'kv_hint' },
      { name: 'an unknown output_mode', value: { ...task, output_mode: 'yaml' }, field: 'output_mode' },
      {
        name: 'json output with a grammar',
        value: { ...task, output_mode: 'json', grammar: 'root ::= "a"' },
        field: 'grammar',
        refined: true,
      },
      { name: 'inputs for a completion', value: { ...task, inputs: ['a'] }, field: 'inputs', refined: true },
      {
        name: 'an embedding without inputs',
        value: { model_ref: 'demo', workload: 'embedding' },
        field: 'inputs',
        refined: true,
      },
      {
        name: 'a budget without a session',
        value: { ...task, session_budget: { max_turns: 2 } },
        field: 'session_budget',
        refined: true,
      },
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
  QueuedEvent: {
    valid: [{ name: 'third in line', value: { position: 2, predicted_start_ms: 1850, queue_depth: 40 } }],
    invalid: [
      { name: 'no predicted start', value: { position: 2, queue_depth: 40 }, field: 'predicted_start_ms' },
      {
        name: 'a negative position',
        value: { position: -1, predicted_start_ms: 0, queue_depth: 1 },
        field: 'position',
      },
    ],
  },
  TaskState: {
    valid: [{ name: 'canceled', value: 'canceled' }],
    invalid: [{ name: 'an unknown state', value: 'done', field: '(root)' }],
  },
  TaskStatus: {
    valid: [
      {
        name: 'a queued task',
        value: { task_id: 'order-1', state: 'queued', position: 3, predicted_start_ms: 2400, tokens_out: 0 },
      },
      { name: 'a running task', value: { task_id: 'order-1', state: 'running', pool_id: 'demo', tokens_out: 17 } },
      {
        name: 'a failed task',
        value: { task_id: 'order-1', state: 'failed', tokens_out: 0, outcome: 'QUEUE_FULL_DROP_LRU' },
      },
      {
        name: 'a finished task, from the journal',
        value: {
          task_id: 'order-1',
          state: 'ended',
          pool_id: 'demo',
          tokens_out: 64,
          tokens_in: 12,
          outcome: 'length',
        },
      },
    ],
    invalid: [
      { name: 'no tokens_out', value: { task_id: 'order-1', state: 'running' }, field: 'tokens_out' },
      {
        name: 'an unknown state',
        value: { task_id: 'order-1', state: 'waiting', tokens_out: 0 },
        field: 'state',
      },
    ],
  },
  LoadingEvent: {
    valid: [
      {
        name: 'a model file coming in',
        value: {
          pool_id: 'chat',
          phase: 'downloading',
          bytes_done: 1_048_576,
          bytes_total: 4_194_304,
          waiting_for: null,
          elapsed_ms: 1200,
        },
      },
    ],
    invalid: [
      {
        name: 'an unknown phase',
        value: {
          pool_id: 'chat',
          phase: 'thinking',
          bytes_done: null,
          bytes_total: null,
          waiting_for: null,
          elapsed_ms: 0,
        },
        field: 'phase',
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
      {
        name: 'a queued event',
        value: { event: 'queued', data: { position: 0, predicted_start_ms: 120, queue_depth: 1 } },
      },
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
