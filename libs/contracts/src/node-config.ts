import { z } from 'zod';
import { DEFAULT_ENGINE_SOURCE, EngineSourceSchema } from './engine-source.ts';
import { ResourceIdSchema } from './ids.ts';
import { ModelRefSchema, Sha256Schema } from './model-ref.ts';
import { EmbeddingPoolingSchema, PoolKindSchema } from './pool-kind.ts';
import { named } from './registry.ts';

export const EngineConfigSchema = named(
  z.strictObject({
    source: EngineSourceSchema.default(DEFAULT_ENGINE_SOURCE),
    device: z.enum(['auto', 'cuda', 'cpu']).default('auto'),
    cuda_architectures: z
      .array(z.string().regex(/^\d{2,3}[a-z]?(-real|-virtual)?$/, 'must be like "86" or "89-real"'))
      .min(1)
      .optional(),
    curl: z.boolean().default(false),
  }),
  'EngineConfig',
  'How llama.cpp is obtained and built on this node.',
);

export const PoolConfigSchema = named(
  z.strictObject({
    id: ResourceIdSchema,
    model: ModelRefSchema,
    sha256: Sha256Schema.optional(),
    ctx: z.int().min(256).max(1_048_576),
    slots: z.int().min(1).max(256),
    gpus: z
      .array(z.int().min(0).max(255))
      .min(1)
      .refine((gpus) => new Set(gpus).size === gpus.length, 'must not repeat a GPU index')
      .optional(),
    replicas: z.int().min(1).max(16).default(1),
    kind: PoolKindSchema.optional(),
    pooling: EmbeddingPoolingSchema.optional(),
    /** `on-demand`: no engine until a task needs the model; stopped after `idle_unload_s` without work. */
    load: z.enum(['always', 'on-demand']).optional(),
    idle_unload_s: z.int().min(1).max(604_800).optional(),
  }),
  'PoolConfig',
  'One pool: a model served by replicas of llama-server with ctx and slots, optionally on chosen GPUs; `kind` says whether it completes, embeds or reranks.',
);
export type PoolConfig = z.output<typeof PoolConfigSchema>;

export const NodeConfigSchema = named(
  z
    .strictObject({
      node_id: ResourceIdSchema.optional(),
      runtime_dir: z.string().min(1).optional(),
      cache_dir: z.string().min(1).optional(),
      engine: EngineConfigSchema.default({ source: DEFAULT_ENGINE_SOURCE, device: 'auto', curl: false }),
      /**
       * Memory the engines of CPU pools may hold together (bytes); on-demand pools are unloaded, least recently used
       * first, to stay under it. GPU pools are held to their GPUs' free memory instead.
       */
      memory_budget_bytes: z.int().min(1).optional(),
      /** How long queued work for one model may wait while the loaded models serve theirs before one is swapped out. */
      max_swap_wait_ms: z.int().min(0).max(3_600_000).default(10_000),
      pools: z.array(PoolConfigSchema).min(1),
    })
    .superRefine((config, ctx) => {
      const seen = new Map<string, number>();
      config.pools.forEach((pool, index) => {
        const first = seen.get(pool.id);
        if (first !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['pools', index, 'id'],
            message: `duplicate pool id "${pool.id}" (also pools[${first}].id)`,
          });
        else seen.set(pool.id, index);
        if (pool.pooling !== undefined && pool.kind !== 'embedding') {
          ctx.addIssue({
            code: 'custom',
            path: ['pools', index, 'pooling'],
            message: `only for kind: embedding (this pool's kind is ${pool.kind ?? 'completion'})`,
          });
        }
        if (pool.idle_unload_s !== undefined && pool.load !== 'on-demand') {
          ctx.addIssue({
            code: 'custom',
            path: ['pools', index, 'idle_unload_s'],
            message: 'only for load: on-demand (this pool is loaded always)',
          });
        }
        if (config.engine.device === 'cpu' && pool.gpus !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['pools', index, 'gpus'], message: 'set, but engine.device is "cpu"' });
        }
      });
    }),
  'NodeConfig',
  'The node/pool YAML file named by LLORCH_CONFIG.',
);
export type NodeConfig = z.output<typeof NodeConfigSchema>;
export type NodeConfigInput = z.input<typeof NodeConfigSchema>;
