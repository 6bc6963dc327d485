import { z } from 'zod';
import { ResourceIdSchema } from './ids.ts';
import { ModelRefSchema, Sha256Schema } from './model-ref.ts';
import { PoolKindSchema } from './pool-kind.ts';
import { DeviceSchema } from './pool-status.ts';
import { named } from './registry.ts';

export const HANDOFF_SCHEMA_VERSION = 1;

/** Engines bind loopback only (invariant 3): a handoff pointing anywhere else is refused. */
export const LoopbackUrlSchema = named(
  z
    .string()
    .regex(
      /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):([1-9]\d{0,4})$/,
      'must be http://127.0.0.1:<port>: engines bind loopback only',
    )
    .refine((url) => Number(url.slice(url.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535'),
  'LoopbackUrl',
  'http://127.0.0.1:<port> of an engine.',
);

export const HandoffSchema = named(
  z
    .strictObject({
      schema_version: z.literal(
        HANDOFF_SCHEMA_VERSION,
        `unsupported schema_version; this build reads version ${HANDOFF_SCHEMA_VERSION}`,
      ),
      pool_id: ResourceIdSchema,
      replica_id: ResourceIdSchema,
      engine: z.literal('llamacpp'),
      engine_version: z.string().min(1),
      provisioning_mode: z.enum(['npm', 'git', 'path', 'binary']),
      url: LoopbackUrlSchema,
      pid: z.int().min(1),
      model: z.strictObject({ ref: ModelRefSchema, path: z.string().min(1), sha256: Sha256Schema.nullable() }),
      kind: PoolKindSchema.optional(),
      ctx: z.int().min(0),
      slots_total: z.int().min(1),
      device: DeviceSchema,
      gpus: z.array(z.int().min(0)),
      flags: z.array(z.string()),
      started_at: z.iso.datetime({ offset: true }),
    })
    .superRefine((handoff, ctx) => {
      if (handoff.device === 'cpu' && handoff.gpus.length > 0) {
        ctx.addIssue({ code: 'custom', path: ['gpus'], message: 'must be empty when device is "cpu"' });
      }
    }),
  'Handoff',
  'File <runtime_dir>/engines/<pool_id>-<replica_id>.json, written atomically by engine-provisioner once the engine is healthy.',
);
export type Handoff = z.infer<typeof HandoffSchema>;

/** `<pool_id>-<replica_id>.json`: the one name a handoff may have. */
export function handoffFileName(poolId: string, replicaId: string): string {
  return `${poolId}-${replicaId}.json`;
}
