/** Files: the handoff file and the node/pool config. */
import { NOW, SHA, pool, type ShapeExamples } from './shape-examples.ts';

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

export const filesExamples: Record<string, ShapeExamples> = {
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
      { name: 'an embedding engine', value: { ...handoff, kind: 'embedding', flags: ['--embeddings'] } },
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
      { name: 'an unknown kind', value: { ...handoff, kind: 'vision' }, field: 'kind' },
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
      { name: 'an embedding pool with mean pooling', value: { ...pool, kind: 'embedding', pooling: 'mean' } },
      { name: 'a rerank pool', value: { ...pool, kind: 'rerank' } },
    ],
    invalid: [
      { name: 'an unknown kind', value: { ...pool, kind: 'vision' }, field: 'kind' },
      { name: 'an unknown pooling', value: { ...pool, kind: 'embedding', pooling: 'max' }, field: 'pooling' },
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
      {
        name: 'pooling on a completion pool',
        value: { pools: [{ ...pool, pooling: 'mean' }] },
        field: 'pools[0].pooling',
        refined: true,
      },
    ],
  },
};
