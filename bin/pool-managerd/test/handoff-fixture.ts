import type { Handoff } from '@llama-orch/contracts';
import { emptyPool, type PoolEntry, type ReplicaEntry } from '../src/registry/pool-state.ts';

export const handoff = (over: Partial<Handoff> = {}): Handoff => ({
  schema_version: 1,
  pool_id: 'chat',
  replica_id: 'r0',
  engine: 'llamacpp',
  engine_version: 'b1+abc-cpu',
  provisioning_mode: 'npm',
  url: 'http://127.0.0.1:40000',
  pid: 100,
  model: { ref: 'demo', path: '/m/demo.gguf', sha256: null },
  ctx: 2048,
  slots_total: 2,
  device: 'cpu',
  gpus: [],
  flags: [],
  started_at: '2026-11-22T10:00:00.000Z',
  ...over,
});

export const replica = (
  over: Partial<Omit<ReplicaEntry, 'handoff'>> & { handoff?: Partial<Handoff> } = {},
): ReplicaEntry => {
  const { handoff: h, ...rest } = over;
  return { healthy: false, seenHealthy: false, lastError: null, ...rest, handoff: handoff(h) };
};

/** A pool entry with the given replicas (by id) and fields. */
export const pool = (replicas: Record<string, ReplicaEntry> = {}, over: Partial<PoolEntry> = {}): PoolEntry => ({
  ...emptyPool('chat', new Date('2026-11-22T10:00:00.000Z')),
  ...over,
  replicas: new Map(Object.entries(replicas)),
});
