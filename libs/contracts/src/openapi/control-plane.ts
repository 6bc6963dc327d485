import { API_VERSION } from '../meta.ts';
import { buildDocument, type OperationSpec } from './document.ts';

export const controlPlaneOperations: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/health',
    operationId: 'getHealth',
    summary: 'Liveness.',
    tags: ['ops'],
    responses: { 200: { description: 'Alive.', json: 'Health' } },
  },
  {
    method: 'get',
    path: '/ready',
    operationId: 'getReady',
    summary: 'Readiness of the node agent.',
    tags: ['ops'],
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
    responses: { 200: { description: 'Prometheus text exposition.', text: true } },
  },
  {
    method: 'get',
    path: '/v2/pools',
    operationId: 'listPools',
    summary: 'Every pool of this node.',
    tags: ['pools'],
    responses: { 200: { description: 'Pools.', json: 'PoolList' } },
  },
  {
    method: 'get',
    path: '/v2/pools/{id}/status',
    operationId: 'getPoolStatus',
    summary: 'Status of one pool (polled by orchestratord).',
    tags: ['pools'],
    responses: {
      200: { description: 'Pool status.', json: 'PoolStatus' },
      404: { description: 'Unknown pool.', json: 'ErrorEnvelope' },
    },
  },
  {
    method: 'post',
    path: '/v2/pools/{id}/drain',
    operationId: 'drainPool',
    summary:
      'Stop taking dispatches, let in-flight work finish until deadline_ms, then abort it; the pool ends offline.',
    tags: ['pools'],
    body: 'DrainRequest',
    responses: {
      200: { description: 'Drained.', json: 'DrainResponse' },
      400: { description: 'Invalid request.', json: 'ErrorEnvelope' },
      404: { description: 'Unknown pool.', json: 'ErrorEnvelope' },
    },
  },
  {
    method: 'post',
    path: '/v2/pools/{id}/reload',
    operationId: 'reloadPool',
    summary: 'Drain, start the new model, switch; on failure the old engine keeps serving (rolled_back).',
    tags: ['pools'],
    body: 'ReloadRequest',
    responses: {
      200: { description: 'Reload outcome.', json: 'ReloadResponse' },
      400: { description: 'Invalid request.', json: 'ErrorEnvelope' },
      404: { description: 'Unknown pool.', json: 'ErrorEnvelope' },
      409: { description: 'A reload or drain is already in progress.', json: 'ErrorEnvelope' },
    },
  },
  {
    method: 'post',
    path: '/v2/pools/{id}/load',
    operationId: 'loadPool',
    summary:
      'Start loading a pool loaded on demand (orchestratord asks when a task needs its model): it makes room by unloading idle pools least recently used first, or waits for busy ones up to max_swap_wait_ms.',
    tags: ['pools'],
    responses: {
      200: { description: 'Loaded already.', json: 'LoadResponse' },
      202: {
        description: 'Loading (or unloading first, then loading); waiting_for says what it waits for.',
        json: 'LoadResponse',
      },
      404: { description: 'Unknown pool.', json: 'ErrorEnvelope' },
      409: {
        description: 'This pool-managerd only watches handoff files: it starts no engine.',
        json: 'ErrorEnvelope',
      },
    },
  },
  {
    method: 'post',
    path: '/v2/pools/{id}/dispatch',
    operationId: 'dispatch',
    summary: "Relay an engine request to one of the pool's replicas; the answer is the engine's bytes, unparsed.",
    tags: ['pools'],
    body: 'DispatchRequest',
    responses: {
      200: { description: "The engine's answer (JSON or text/event-stream), relayed verbatim." },
      400: { description: 'Invalid request.', json: 'ErrorEnvelope' },
      404: { description: 'Unknown pool.', json: 'ErrorEnvelope' },
      503: { description: 'Every slot is busy (REPLICA_EXHAUSTED) or the pool is not ready.', json: 'ErrorEnvelope' },
    },
  },
  {
    method: 'post',
    path: '/v2/pools/{id}/kv/erase',
    operationId: 'eraseKvCache',
    summary:
      "Free the KV cache a conversation (a dispatch's cache_key) left in an engine slot: orchestratord calls it when a session is deleted.",
    tags: ['pools'],
    body: 'KvEraseRequest',
    responses: {
      200: { description: 'Erased, or no live engine slot held it (erased_tokens null).', json: 'KvEraseResponse' },
      400: { description: 'Invalid request.', json: 'ErrorEnvelope' },
      404: { description: 'Unknown pool.', json: 'ErrorEnvelope' },
    },
  },
];

export function buildControlPlaneDocument(): Record<string, unknown> {
  return buildDocument({
    title: 'llama-orch pool-managerd control plane',
    version: API_VERSION,
    description:
      'Node-agent API that orchestratord polls and dispatches through, over mutual TLS in the CLOUD profile. Generated from libs/contracts; do not edit by hand.',
    securitySchemes: {
      mutualTLS: { type: 'mutualTLS', description: 'Client certificate issued by the cluster CA (llorch certs).' },
    },
    operations: controlPlaneOperations,
  });
}
