import { z } from 'zod';
import { ResourceIdSchema } from './ids.ts';
import { ModelRefSchema } from './model-ref.ts';
import { PoolKindSchema } from './pool-kind.ts';
import { named } from './registry.ts';

export const PoolStateSchema = named(
  z.enum(['provisioning', 'starting', 'ready', 'draining', 'offline', 'failed', 'unloaded', 'loading', 'unloading']),
  'PoolState',
  'provisioning → starting → ready → draining → offline | failed; a pool loaded on demand: unloaded → loading → ready → unloading → unloaded.',
);
export type PoolState = z.infer<typeof PoolStateSchema>;

export const LoadProgressSchema = named(
  z.strictObject({
    /**
     * `preparing`: the engine build and the model file are made ready; `downloading`: the model file comes in;
     * `waiting_for_memory`: other pools hold the memory it needs (`waiting_for` says which); `starting`: its engines
     * start; `unloading`: its engines stop (another load or idleness), a load asked meanwhile follows.
     */
    phase: z.enum(['preparing', 'downloading', 'waiting_for_memory', 'starting', 'unloading']),
    bytes_done: z.int().min(0).nullable(),
    bytes_total: z.int().min(0).nullable(),
    waiting_for: z.string().nullable(),
    /** Since the load was asked for (ms). */
    elapsed_ms: z.int().min(0),
  }),
  'LoadProgress',
  'Where the load of a pool loaded on demand stands (PoolStatus.loading, the task event `loading`).',
);
export type LoadProgress = z.infer<typeof LoadProgressSchema>;

export const DeviceSchema = named(z.enum(['cpu', 'cuda']), 'Device', 'What the engine computes on.');

export const PoolStatusSchema = named(
  z
    .strictObject({
      pool_id: ResourceIdSchema,
      node_id: ResourceIdSchema,
      state: PoolStateSchema,
      live: z.boolean(),
      ready: z.boolean(),
      draining: z.boolean(),
      model: z.string().min(1),
      kind: PoolKindSchema.optional(),
      engine: z.literal('llamacpp'),
      engine_version: z.string().nullable(),
      slots_total: z.int().min(0),
      slots_free: z.int().min(0),
      ctx_max: z.int().min(0),
      device: DeviceSchema,
      /** The GPU indexes the pool's engines run on; empty on CPU (absent from an older pool-managerd). */
      gpus: z.array(z.int().min(0)).optional(),
      /** The model file's sha256 when it was verified or computed, else null. */
      model_digest: z.string().nullable().optional(),
      /**
       * Whether the pool honours `determinism: strict`: the same request and seed give the same tokens on every
       * replica, whatever else runs beside it (ORCH-4037).
       */
      deterministic: z.boolean().optional(),
      /** Bytes of KV cache one token of context takes in the engine (f16 cache), from the model's header. */
      kv_bytes_per_token: z.int().min(0).nullable().optional(),
      /**
       * Memory the pool's engines hold, estimated from the model's GGUF header before loading (PROV-2041): weights,
       * KV cache for `ctx × slots`, llama.cpp's output and compute buffers and, on CPU, the process; per replica ×
       * replicas. Null until the header has been read, or when it does not say enough.
       */
      memory_estimate_bytes: z.int().min(0).nullable().optional(),
      /** `always`: its engines run from the start; `on-demand`: started when a task needs it, stopped when idle. */
      load: z.enum(['always', 'on-demand']).optional(),
      /** How long the last load on demand took, from the request to the first healthy engine (ms); null before one. */
      load_ms: z.int().min(0).nullable().optional(),
      /** While it loads or unloads: where that stands; otherwise null. */
      loading: LoadProgressSchema.nullable().optional(),
      vram_total_bytes: z.int().min(0).nullable(),
      vram_free_bytes: z.int().min(0).nullable(),
      last_error: z.string().nullable(),
      updated_at: z.iso.datetime({ offset: true }),
    })
    .superRefine((status, ctx) => {
      if (status.slots_free > status.slots_total) {
        ctx.addIssue({ code: 'custom', path: ['slots_free'], message: 'cannot exceed slots_total' });
      }
      if (status.ready && (!status.live || status.state !== 'ready')) {
        ctx.addIssue({ code: 'custom', path: ['ready'], message: 'a ready pool is live and in state "ready"' });
      }
    }),
  'PoolStatus',
  'Answer of pool-managerd GET /v2/pools/{id}/status.',
);
export type PoolStatus = z.infer<typeof PoolStatusSchema>;

export const PoolListSchema = named(
  z.strictObject({ pools: z.array(PoolStatusSchema) }),
  'PoolList',
  'Answer of GET /v2/pools.',
);
export type PoolList = z.infer<typeof PoolListSchema>;

export const PoolHealthSchema = named(
  z.strictObject({
    pool_id: ResourceIdSchema,
    live: z.boolean(),
    ready: z.boolean(),
    draining: z.boolean(),
    metrics: z.looseObject({ queue_depth: z.int().min(0), slots_total: z.int().min(0), slots_free: z.int().min(0) }),
    last_error: z.string().nullable(),
  }),
  'PoolHealth',
  'Answer of orchestratord GET /v2/pools/{id}/health.',
);
export type PoolHealth = z.infer<typeof PoolHealthSchema>;

export const DrainRequestSchema = named(
  z.strictObject({ deadline_ms: z.int().min(0).max(3_600_000) }),
  'DrainRequest',
  'Body of POST /v2/pools/{id}/drain: how long in-flight work may run before it is aborted.',
);
export type DrainRequest = z.infer<typeof DrainRequestSchema>;

export const DrainResponseSchema = named(
  z.strictObject({
    pool_id: ResourceIdSchema,
    state: PoolStateSchema,
    aborted: z.int().min(0),
    duration_ms: z.int().min(0),
  }),
  'DrainResponse',
  'Answer of POST /v2/pools/{id}/drain once the pool is offline.',
);
export type DrainResponse = z.infer<typeof DrainResponseSchema>;

export const ReloadRequestSchema = named(
  z.strictObject({
    model_ref: ModelRefSchema,
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
  }),
  'ReloadRequest',
  'Body of POST /v2/pools/{id}/reload.',
);
export type ReloadRequest = z.infer<typeof ReloadRequestSchema>;

export const ReloadResponseSchema = named(
  z.strictObject({
    pool_id: ResourceIdSchema,
    ok: z.boolean(),
    rolled_back: z.boolean(),
    model: z.string().min(1),
    message: z.string().optional(),
  }),
  'ReloadResponse',
  'Answer of POST /v2/pools/{id}/reload; rolled_back means the old model still serves.',
);
export type ReloadResponse = z.infer<typeof ReloadResponseSchema>;

export const LoadResponseSchema = named(
  z.strictObject({
    pool_id: ResourceIdSchema,
    state: PoolStateSchema,
    /** Why it is not loading yet: the memory it waits for (other pools' work), or null. */
    waiting_for: z.string().nullable(),
  }),
  'LoadResponse',
  'Answer of pool-managerd POST /v2/pools/{id}/load: the load of an on-demand pool is under way (or it is loaded).',
);
export type LoadResponse = z.infer<typeof LoadResponseSchema>;

export const KvEraseRequestSchema = named(
  z.strictObject({ cache_key: z.string().min(1).max(128) }),
  'KvEraseRequest',
  "Body of pool-managerd POST /v2/pools/{id}/kv/erase: the conversation (a dispatch's cache_key) whose KV cache to free.",
);
export type KvEraseRequest = z.infer<typeof KvEraseRequestSchema>;

export const KvEraseResponseSchema = named(
  z.strictObject({
    pool_id: ResourceIdSchema,
    /** Tokens the engine dropped from the slot; null when no live engine slot held that conversation. */
    erased_tokens: z.int().min(0).nullable(),
  }),
  'KvEraseResponse',
  'Answer of pool-managerd POST /v2/pools/{id}/kv/erase.',
);
export type KvEraseResponse = z.infer<typeof KvEraseResponseSchema>;

export const DispatchRequestSchema = named(
  z.strictObject({
    endpoint: z.enum([
      '/v1/chat/completions',
      '/v1/completions',
      '/completion',
      '/v1/responses',
      '/v1/messages',
      '/v1/messages/count_tokens',
      '/v1/embeddings',
      '/v1/rerank',
    ]),
    body: z.record(z.string(), z.unknown()),
    /**
     * An opaque key of the conversation the request continues (orchestratord sends one per session): its turns go to
     * the engine slot that holds the conversation's prompt in KV cache. Without one, the prompt's own prefixes are the
     * keys.
     */
    cache_key: z.string().min(1).max(128).optional(),
  }),
  'DispatchRequest',
  "Body of pool-managerd POST /v2/pools/{id}/dispatch: an engine request relayed verbatim (pool-managerd pins it to an engine slot, `id_slot`); the answer is the engine's bytes.",
);
export type DispatchRequest = z.infer<typeof DispatchRequestSchema>;
