/** Pool status, control requests and meta answers. */
import { NOW, SHA, type ShapeExamples } from './shape-examples.ts';

const chatRequest = { model: 'demo', messages: [{ role: 'user', content: 'hi' }] };
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

export const poolsExamples: Record<string, ShapeExamples> = {
  PoolState: {
    valid: [
      { name: 'draining', value: 'draining' },
      { name: 'loaded on demand, at rest', value: 'unloaded' },
    ],
    invalid: [{ name: 'an unknown state', value: 'sleeping', field: '(root)' }],
  },
  Device: {
    valid: [{ name: 'cuda', value: 'cuda' }],
    invalid: [{ name: 'a vendor name', value: 'nvidia', field: '(root)' }],
  },
  PoolStatus: {
    valid: [
      { name: 'a ready CPU pool', value: poolStatus },
      { name: 'a ready rerank pool', value: { ...poolStatus, kind: 'rerank' } },
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
      { name: 'an unknown kind', value: { ...poolStatus, kind: 'chat' }, field: 'kind' },
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
  LoadProgress: {
    valid: [
      {
        name: 'waiting for the memory of busy pools',
        value: {
          phase: 'waiting_for_memory',
          bytes_done: null,
          bytes_total: null,
          waiting_for: 'memory held by pools with work: small',
          elapsed_ms: 250,
        },
      },
    ],
    invalid: [
      {
        name: 'negative elapsed time',
        value: { phase: 'starting', bytes_done: null, bytes_total: null, waiting_for: null, elapsed_ms: -1 },
        field: 'elapsed_ms',
      },
    ],
  },
  LoadResponse: {
    valid: [
      {
        name: 'waiting for memory',
        value: { pool_id: 'large', state: 'loading', waiting_for: 'memory held by pools with work: small' },
      },
    ],
    invalid: [{ name: 'no waiting_for', value: { pool_id: 'large', state: 'loading' }, field: 'waiting_for' }],
  },
  DispatchRequest: {
    valid: [
      { name: 'a chat relay', value: { endpoint: '/v1/chat/completions', body: { ...chatRequest, stream: true } } },
      {
        name: "a session's turn, with its cache key",
        value: { endpoint: '/v1/chat/completions', body: chatRequest, cache_key: 'r2VbbQ1x0l7w3xW9c1sKcA' },
      },
    ],
    invalid: [
      { name: 'an engine admin path', value: { endpoint: '/slots', body: {} }, field: 'endpoint' },
      { name: 'a non-object body', value: { endpoint: '/completion', body: 'x' }, field: 'body' },
    ],
  },
  KvEraseRequest: {
    valid: [{ name: "a session's cache key", value: { cache_key: 'r2VbbQ1x0l7w3xW9c1sKcA' } }],
    invalid: [{ name: 'an empty key', value: { cache_key: '' }, field: 'cache_key' }],
  },
  KvEraseResponse: {
    valid: [
      { name: 'erased', value: { pool_id: 'chat', erased_tokens: 1874 } },
      { name: 'no slot held it', value: { pool_id: 'chat', erased_tokens: null } },
    ],
    invalid: [{ name: 'a negative count', value: { pool_id: 'chat', erased_tokens: -1 }, field: 'erased_tokens' }],
  },
  Health: {
    valid: [{ name: 'alive', value: { status: 'ok', version: '0.1.0' } }],
    invalid: [{ name: 'a wrong status', value: { status: 'up', version: '0.1.0' }, field: 'status' }],
  },
  Readiness: {
    valid: [{ name: 'not ready with reasons', value: { ready: false, reasons: ['no pool is ready'] } }],
    invalid: [{ name: 'no reasons', value: { ready: true }, field: 'reasons' }],
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
  PoolReadyCallback: {
    valid: [
      { name: 'a pool that became ready', value: { pool_id: 'demo', node_id: 'node-a', state: 'ready' } },
      { name: 'a pool that went offline', value: { pool_id: 'demo', node_id: 'node-a', state: 'offline' } },
    ],
    invalid: [
      { name: 'no node_id', value: { pool_id: 'demo', state: 'ready' }, field: 'node_id' },
      { name: 'an unknown state', value: { pool_id: 'demo', node_id: 'node-a', state: 'up' }, field: 'state' },
      {
        name: 'an extra field',
        value: { pool_id: 'demo', node_id: 'node-a', state: 'ready', url: 'http://x' },
        field: 'url',
      },
    ],
  },
};
