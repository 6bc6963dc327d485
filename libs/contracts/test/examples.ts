/**
 * Valid and invalid examples of every registered wire shape. An invalid example names the field its error
 * message must mention; `refined: true` marks a rule that JSON Schema cannot express (a cross-field check),
 * which only the runtime schema catches.
 */
export interface Example {
  readonly name: string;
  readonly value: unknown;
}
export interface BadExample extends Example {
  readonly field: string;
  readonly refined?: true;
}
export interface ShapeExamples {
  readonly valid: readonly Example[];
  readonly invalid: readonly BadExample[];
}

const SHA = 'a'.repeat(64);
const NOW = '2026-11-22T10:00:00.000Z';

const envelope = { code: 'ADMISSION_REJECT', message: 'queue full', retriable: true, retry_after_ms: 750 };
const task = { model_ref: 'demo', prompt: 'Say hello' };
const chatRequest = { model: 'demo', messages: [{ role: 'user', content: 'hi' }] };
const usage = { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 };
const head = { id: 'chatcmpl-1', created: 1_790_000_000, model: 'demo' };
const poolStatus = {
  pool_id: 'demo',
  node_id: 'node-a',
  state: 'ready',
  live: true,
  ready: true,
  draining: false,
  model: 'demo',
  engine: 'llamacpp',
  engine_version: 'b6500-cpu',
  slots_total: 4,
  slots_free: 3,
  ctx_max: 4096,
  device: 'cpu',
  vram_total_bytes: null,
  vram_free_bytes: null,
  last_error: null,
  updated_at: NOW,
};
const handoff = {
  schema_version: 1,
  pool_id: 'demo',
  replica_id: 'r0',
  engine: 'llamacpp',
  engine_version: 'b6500-cpu',
  provisioning_mode: 'npm',
  url: 'http://127.0.0.1:41234',
  pid: 4242,
  model: { ref: 'demo', path: '/cache/models/demo.gguf', sha256: SHA },
  ctx: 4096,
  slots_total: 4,
  device: 'cpu',
  gpus: [],
  flags: ['--metrics'],
  started_at: NOW,
};
const pool = {
  id: 'chat',
  model: 'hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf',
  ctx: 8192,
  slots: 4,
};
const session = {
  session_id: 's-1',
  ttl_ms_remaining: 600000,
  turns: 2,
  max_turns: 8,
  kv_warmth: true,
  pool_id: 'demo',
  tokens_budget_remaining: null,
  time_budget_remaining_ms: null,
};
const capabilities = {
  api_version: '2.0.0',
  engines: [
    {
      engine: 'llamacpp',
      engine_version: 'b6500-cpu',
      ctx_max: 4096,
      supported_workloads: ['completion'],
      slots_total: 4,
      models: ['demo'],
    },
  ],
  admission: { capacity: 64, policy: 'reject' },
};

export const examples: Record<string, ShapeExamples> = {
  ErrorCode: {
    valid: [{ name: 'a catalogue code', value: 'INVALID_PARAMS' }],
    invalid: [{ name: 'a code outside the catalogue', value: 'TEAPOT', field: '(root)' }],
  },
  ErrorEnvelope: {
    valid: [
      { name: 'a 429 envelope', value: envelope },
      { name: 'a minimal envelope', value: { code: 'NOT_FOUND', message: 'no such task' } },
    ],
    invalid: [
      { name: 'a missing message', value: { code: 'INTERNAL' }, field: 'message' },
      { name: 'an unknown code', value: { ...envelope, code: 'NOPE' }, field: 'code' },
      { name: 'a negative retry_after_ms', value: { ...envelope, retry_after_ms: -1 }, field: 'retry_after_ms' },
      { name: 'an unknown key', value: { ...envelope, extra: 1 }, field: 'extra' },
    ],
  },
  OpenAIErrorResponse: {
    valid: [
      {
        name: 'an invalid request error',
        value: { error: { message: 'bad', type: 'invalid_request_error', param: 'messages', code: 'invalid_params' } },
      },
    ],
    invalid: [
      { name: 'a flat error', value: { message: 'bad' }, field: 'error' },
      { name: 'a missing type', value: { error: { message: 'bad', param: null, code: null } }, field: 'error.type' },
    ],
  },
  ResourceId: {
    valid: [{ name: 'a pool id', value: 'gpu0-chat' }],
    invalid: [
      { name: 'upper case', value: 'Chat', field: '(root)' },
      { name: 'a path separator', value: 'a/b', field: '(root)' },
    ],
  },
  ClientId: {
    valid: [{ name: 'a uuid', value: '0b7e5b9e-6c1f-4b7a-9a53-2f3c3f1b8d11' }],
    invalid: [{ name: 'whitespace', value: 'my task', field: '(root)' }],
  },
  ModelRef: {
    valid: [
      { name: 'the demo model', value: 'demo' },
      { name: 'a file', value: 'file:/models/x.gguf' },
      { name: 'a Hugging Face file', value: pool.model },
      { name: 'an https URL', value: 'https://example.org/m.gguf' },
    ],
    invalid: [
      { name: 'an unknown scheme', value: 's3://bucket/key', field: '(root)', refined: true },
      { name: 'an hf ref without a gguf file', value: 'hf:Qwen/Qwen2.5', field: '(root)', refined: true },
    ],
  },
  Sha256: {
    valid: [{ name: 'a digest', value: SHA }],
    invalid: [{ name: 'upper-case hex', value: 'A'.repeat(64), field: '(root)' }],
  },
  EngineSource: {
    valid: [
      { name: 'the npm bundle', value: 'npm:node-llama-cpp@3.22.1' },
      { name: 'a git ref', value: 'git:https://github.com/ggml-org/llama.cpp#b6500' },
      { name: 'a source dir', value: 'path:/src/llama.cpp' },
      { name: 'a prebuilt binary', value: 'binary:/usr/local/bin/llama-server' },
    ],
    invalid: [
      { name: 'a version range', value: 'npm:node-llama-cpp@^3', field: '(root)', refined: true },
      {
        name: 'a git url without ref',
        value: 'git:https://github.com/ggml-org/llama.cpp',
        field: '(root)',
        refined: true,
      },
    ],
  },
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
  ChatCompletionRequest: {
    valid: [
      { name: 'a minimal chat', value: chatRequest },
      {
        name: 'a streamed chat with llama.cpp extensions',
        value: {
          ...chatRequest,
          stream: true,
          stream_options: { include_usage: true },
          top_k: 20,
          min_p: 0.05,
          ignore_eos: true,
          json_schema: {},
        },
      },
    ],
    invalid: [
      { name: 'no messages', value: { model: 'demo', messages: [] }, field: 'messages' },
      { name: 'n above 1', value: { ...chatRequest, n: 2 }, field: 'n' },
      { name: 'a temperature above 2', value: { ...chatRequest, temperature: 3 }, field: 'temperature' },
      { name: 'no model', value: { messages: chatRequest.messages }, field: 'model' },
    ],
  },
  CompletionRequest: {
    valid: [
      { name: 'a prompt', value: { model: 'demo', prompt: 'Once upon', max_tokens: 16 } },
      { name: 'a single-element prompt array', value: { model: 'demo', prompt: ['Once upon'] } },
    ],
    invalid: [
      { name: 'two prompts', value: { model: 'demo', prompt: ['a', 'b'] }, field: 'prompt' },
      { name: 'echo', value: { model: 'demo', prompt: 'a', echo: true }, field: 'echo' },
    ],
  },
  Usage: {
    valid: [{ name: 'counts', value: usage }],
    invalid: [{ name: 'a missing total', value: { prompt_tokens: 1, completion_tokens: 1 }, field: 'total_tokens' }],
  },
  ChatCompletion: {
    valid: [
      {
        name: 'an answer',
        value: {
          ...head,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }],
          usage,
        },
      },
    ],
    invalid: [
      {
        name: 'a wrong object',
        value: { ...head, object: 'chat.completion.chunk', choices: [], usage },
        field: 'object',
      },
    ],
  },
  ChatCompletionChunk: {
    valid: [
      {
        name: 'a delta',
        value: {
          ...head,
          object: 'chat.completion.chunk',
          choices: [{ index: 0, delta: { content: 'He' }, finish_reason: null }],
        },
      },
      { name: 'the usage chunk', value: { ...head, object: 'chat.completion.chunk', choices: [], usage } },
    ],
    invalid: [
      {
        name: 'an unknown finish reason',
        value: { ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'tired' }] },
        field: 'choices[0].finish_reason',
      },
    ],
  },
  Completion: {
    valid: [
      {
        name: 'an answer',
        value: {
          ...head,
          object: 'text_completion',
          choices: [{ index: 0, text: ' a time', logprobs: null, finish_reason: 'length' }],
          usage,
        },
      },
    ],
    invalid: [{ name: 'no usage', value: { ...head, object: 'text_completion', choices: [] }, field: 'usage' }],
  },
  CompletionChunk: {
    valid: [
      {
        name: 'a text delta',
        value: {
          ...head,
          object: 'text_completion',
          choices: [{ index: 0, text: ' a', logprobs: null, finish_reason: null }],
        },
      },
    ],
    invalid: [
      {
        name: 'a missing text',
        value: { ...head, object: 'text_completion', choices: [{ index: 0, logprobs: null, finish_reason: null }] },
        field: 'choices[0].text',
      },
    ],
  },
  ModelList: {
    valid: [
      {
        name: 'one model',
        value: { object: 'list', data: [{ id: 'demo', object: 'model', created: 0, owned_by: 'llama-orch' }] },
      },
    ],
    invalid: [{ name: 'a wrong object', value: { object: 'models', data: [] }, field: 'object' }],
  },
  PoolState: {
    valid: [{ name: 'draining', value: 'draining' }],
    invalid: [{ name: 'an unknown state', value: 'loading', field: '(root)' }],
  },
  Device: {
    valid: [{ name: 'cuda', value: 'cuda' }],
    invalid: [{ name: 'a vendor name', value: 'nvidia', field: '(root)' }],
  },
  PoolStatus: {
    valid: [
      { name: 'a ready CPU pool', value: poolStatus },
      {
        name: 'a failed CUDA pool',
        value: {
          ...poolStatus,
          state: 'failed',
          ready: false,
          live: false,
          device: 'cuda',
          vram_total_bytes: 25_769_803_776,
          vram_free_bytes: 1_073_741_824,
          last_error: 'engine exited 3 times in 60 s',
        },
      },
    ],
    invalid: [
      {
        name: 'more free slots than slots',
        value: { ...poolStatus, slots_free: 5 },
        field: 'slots_free',
        refined: true,
      },
      { name: 'ready while offline', value: { ...poolStatus, state: 'offline' }, field: 'ready', refined: true },
      { name: 'a missing node_id', value: { ...poolStatus, node_id: undefined }, field: 'node_id' },
      { name: 'a bad timestamp', value: { ...poolStatus, updated_at: 'yesterday' }, field: 'updated_at' },
    ],
  },
  PoolList: {
    valid: [{ name: 'one pool', value: { pools: [poolStatus] } }],
    invalid: [
      { name: 'a bad pool inside', value: { pools: [{ ...poolStatus, state: 'up' }] }, field: 'pools[0].state' },
    ],
  },
  PoolHealth: {
    valid: [
      {
        name: 'a ready pool',
        value: {
          pool_id: 'demo',
          live: true,
          ready: true,
          draining: false,
          metrics: { queue_depth: 0, slots_total: 4, slots_free: 4 },
          last_error: null,
        },
      },
    ],
    invalid: [
      {
        name: 'no metrics',
        value: { pool_id: 'demo', live: true, ready: true, draining: false, last_error: null },
        field: 'metrics',
      },
    ],
  },
  DrainRequest: {
    valid: [{ name: 'a deadline', value: { deadline_ms: 30000 } }],
    invalid: [
      { name: 'a negative deadline', value: { deadline_ms: -1 }, field: 'deadline_ms' },
      { name: 'a string deadline', value: { deadline_ms: '30s' }, field: 'deadline_ms' },
    ],
  },
  DrainResponse: {
    valid: [{ name: 'a drained pool', value: { pool_id: 'demo', state: 'offline', aborted: 1, duration_ms: 30001 } }],
    invalid: [
      { name: 'no aborted count', value: { pool_id: 'demo', state: 'offline', duration_ms: 1 }, field: 'aborted' },
    ],
  },
  ReloadRequest: {
    valid: [{ name: 'a new model', value: { model_ref: 'file:/models/new.gguf', sha256: SHA } }],
    invalid: [
      { name: 'the old field name', value: { new_model_ref: 'demo' }, field: 'new_model_ref' },
      { name: 'a bad model ref', value: { model_ref: 'ftp://x' }, field: 'model_ref', refined: true },
    ],
  },
  ReloadResponse: {
    valid: [
      {
        name: 'a rollback',
        value: { pool_id: 'demo', ok: false, rolled_back: true, model: 'demo', message: 'new engine failed /health' },
      },
    ],
    invalid: [{ name: 'no rolled_back', value: { pool_id: 'demo', ok: true, model: 'demo' }, field: 'rolled_back' }],
  },
  DispatchRequest: {
    valid: [
      { name: 'a chat relay', value: { endpoint: '/v1/chat/completions', body: { ...chatRequest, stream: true } } },
    ],
    invalid: [
      { name: 'an engine admin path', value: { endpoint: '/slots', body: {} }, field: 'endpoint' },
      { name: 'a non-object body', value: { endpoint: '/completion', body: 'x' }, field: 'body' },
    ],
  },
  LoopbackUrl: {
    valid: [{ name: 'loopback with a port', value: 'http://127.0.0.1:8081' }],
    invalid: [
      { name: 'a LAN address', value: 'http://192.168.1.5:8081', field: '(root)' },
      { name: 'a port above 65535', value: 'http://127.0.0.1:70000', field: '(root)', refined: true },
      { name: 'https', value: 'https://127.0.0.1:8081', field: '(root)' },
    ],
  },
  Handoff: {
    valid: [
      { name: 'a CPU engine', value: handoff },
      {
        name: 'a CUDA engine on two GPUs',
        value: { ...handoff, device: 'cuda', gpus: [0, 1], model: { ...handoff.model, sha256: null } },
      },
    ],
    invalid: [
      { name: 'a future schema_version', value: { ...handoff, schema_version: 2 }, field: 'schema_version' },
      { name: 'no schema_version', value: { ...handoff, schema_version: undefined }, field: 'schema_version' },
      {
        name: 'an engine on a public address',
        value: { ...handoff, url: 'http://10.0.0.3:8081' },
        field: 'url',
        refined: true,
      },
      { name: 'GPUs on a CPU engine', value: { ...handoff, gpus: [0] }, field: 'gpus', refined: true },
      {
        name: 'a missing model path',
        value: { ...handoff, model: { ref: 'demo', sha256: null } },
        field: 'model.path',
      },
      { name: 'a pid of 0', value: { ...handoff, pid: 0 }, field: 'pid' },
    ],
  },
  EngineConfig: {
    valid: [
      { name: 'the defaults', value: {} },
      {
        name: 'a CUDA build for two architectures',
        value: { source: 'npm:node-llama-cpp@3.22.1', device: 'cuda', cuda_architectures: ['86', '89'] },
      },
    ],
    invalid: [
      { name: 'an unknown device', value: { device: 'rocm' }, field: 'device' },
      { name: 'a bad architecture', value: { cuda_architectures: ['sm_86'] }, field: 'cuda_architectures[0]' },
    ],
  },
  PoolConfig: {
    valid: [
      { name: 'a pool', value: pool },
      { name: 'a pool on GPU 1 with two replicas', value: { ...pool, gpus: [1], replicas: 2, sha256: SHA } },
    ],
    invalid: [
      { name: 'zero slots', value: { ...pool, slots: 0 }, field: 'slots' },
      { name: 'a tiny ctx', value: { ...pool, ctx: 16 }, field: 'ctx' },
      { name: 'a repeated GPU', value: { ...pool, gpus: [0, 0] }, field: 'gpus', refined: true },
      { name: 'a missing model', value: { id: 'x', ctx: 512, slots: 1 }, field: 'model' },
    ],
  },
  NodeConfig: {
    valid: [
      { name: 'one demo pool', value: { pools: [{ id: 'demo', model: 'demo', ctx: 2048, slots: 2 }] } },
      {
        name: 'two pools on two GPUs',
        value: {
          node_id: 'tower',
          runtime_dir: '/run/llama-orch',
          cache_dir: '/var/cache/llama-orch',
          engine: { device: 'cuda' },
          pools: [
            { ...pool, id: 'chat', gpus: [0] },
            { ...pool, id: 'code', gpus: [1] },
          ],
        },
      },
    ],
    invalid: [
      { name: 'no pools', value: { pools: [] }, field: 'pools' },
      { name: 'an unknown top-level key', value: { pools: [pool], pool: [] }, field: 'pool' },
      { name: 'an unknown pool key', value: { pools: [{ ...pool, gpu: 0 }] }, field: 'pools[0].gpu' },
      { name: 'a duplicate pool id', value: { pools: [pool, pool] }, field: 'pools[1].id', refined: true },
      {
        name: 'GPUs on a CPU node',
        value: { engine: { device: 'cpu' }, pools: [{ ...pool, gpus: [0] }] },
        field: 'pools[0].gpus',
        refined: true,
      },
    ],
  },
  Health: {
    valid: [{ name: 'alive', value: { status: 'ok', version: '0.1.0' } }],
    invalid: [{ name: 'a wrong status', value: { status: 'up', version: '0.1.0' }, field: 'status' }],
  },
  Readiness: {
    valid: [{ name: 'not ready with reasons', value: { ready: false, reasons: ['no pool is ready'] } }],
    invalid: [{ name: 'no reasons', value: { ready: true }, field: 'reasons' }],
  },
  SessionInfo: {
    valid: [{ name: 'a warm session', value: session }],
    invalid: [{ name: 'a negative ttl', value: { ...session, ttl_ms_remaining: -5 }, field: 'ttl_ms_remaining' }],
  },
  Capabilities: {
    valid: [{ name: 'one engine', value: capabilities }],
    invalid: [
      { name: 'an old api_version', value: { ...capabilities, api_version: '1.0.0' }, field: 'api_version' },
      {
        name: 'an unknown policy',
        value: { ...capabilities, admission: { capacity: 1, policy: 'shed' } },
        field: 'admission.policy',
      },
    ],
  },
  VersionInfo: {
    valid: [{ name: 'a build', value: { api_version: '2.0.0', version: '0.1.0', build_commit: null } }],
    invalid: [{ name: 'no version', value: { api_version: '2.0.0', build_commit: null }, field: 'version' }],
  },
};
