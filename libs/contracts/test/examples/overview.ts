/** The operator page's overview (issue 20). */
import { NOW, type ShapeExamples } from './shape-examples.ts';

const pool = {
  pool_id: 'demo',
  node_id: 'node-a',
  state: 'draining',
  live: true,
  ready: false,
  draining: true,
  model: 'demo',
  engine: 'llamacpp',
  engine_version: 'b6500-cpu',
  slots_total: 2,
  slots_free: 0,
  ctx_max: 2048,
  device: 'cpu',
  vram_total_bytes: null,
  vram_free_bytes: null,
  last_error: null,
  updated_at: NOW,
};
const running = {
  task_id: 'order-1',
  state: 'running',
  model: 'demo',
  priority: 'interactive',
  pool_id: 'demo',
  tokens_out: 42,
  tokens_per_s: 120.5,
  first_token_ms: 35,
  age_ms: 420,
};
const queued = {
  task_id: 'order-2',
  state: 'queued',
  model: 'demo',
  priority: 'batch',
  tokens_out: 0,
  tokens_per_s: null,
  first_token_ms: null,
  age_ms: 80,
  position: 0,
};
const finished = { ...running, task_id: 'order-0', state: 'ended', tokens_out: 128, outcome: 'length' };
const point = { t: 1795447692410, tokens_per_s: 250.5, tasks_per_s: 2, first_token_p50_ms: 40, first_token_p95_ms: 95 };
const overview = {
  at: 1795447692500,
  version: '0.1.0',
  viewer: { label: 'anonymous', admin: true },
  pools: [pool],
  queue: {
    depth: 1,
    capacity: 64,
    interactive: 0,
    batch: 1,
    oldest_wait_ms: 80,
    next_start_ms: 900,
    rejected_last_minute: 3,
  },
  tasks: { live: [running, queued], live_total: 2, finished: [finished] },
  throughput: [point, { ...point, t: point.t + 1000, first_token_p50_ms: null, first_token_p95_ms: null }],
};

export const overviewExamples: Record<string, ShapeExamples> = {
  OverviewTask: {
    valid: [
      { name: 'a running task', value: running },
      { name: 'a queued task', value: queued },
      { name: 'a finished task', value: finished },
    ],
    invalid: [
      { name: 'an unknown priority', value: { ...running, priority: 'urgent' }, field: 'priority' },
      { name: 'a negative rate', value: { ...running, tokens_per_s: -1 }, field: 'tokens_per_s' },
      { name: 'no age', value: { ...running, age_ms: undefined }, field: 'age_ms' },
    ],
  },
  OverviewPoint: {
    valid: [{ name: 'a second of throughput', value: point }],
    invalid: [{ name: 'latency as text', value: { ...point, first_token_p50_ms: '40' }, field: 'first_token_p50_ms' }],
  },
  Overview: {
    valid: [
      { name: 'a draining pool, a running and a queued task', value: overview },
      {
        name: 'a client’s view of an idle cluster, later in the stream (no new point)',
        value: {
          ...overview,
          viewer: { label: 'key 3f2a', admin: false },
          queue: { ...overview.queue, depth: 0, batch: 0, oldest_wait_ms: null, next_start_ms: null },
          tasks: { live: [], live_total: 0, finished: [] },
          throughput: [],
        },
      },
    ],
    invalid: [
      {
        name: 'a queue without its 429 count',
        value: { ...overview, queue: { ...overview.queue, rejected_last_minute: undefined } },
        field: 'queue.rejected_last_minute',
      },
      { name: 'a viewer without its role', value: { ...overview, viewer: { label: 'x' } }, field: 'viewer.admin' },
    ],
  },
};
