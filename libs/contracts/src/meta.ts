import { z } from 'zod';
import { named } from './registry.ts';

export const API_VERSION = '2.0.0';

export const HealthSchema = named(
  z.strictObject({ status: z.literal('ok'), version: z.string().min(1) }),
  'Health',
  'Answer of GET /health: the process is alive.',
);

export const ReadinessSchema = named(
  z.strictObject({ ready: z.boolean(), reasons: z.array(z.string()) }),
  'Readiness',
  'Answer of GET /ready (200 when ready, 503 otherwise); reasons say what is missing.',
);

export const CapabilitiesSchema = named(
  z.strictObject({
    api_version: z.literal(API_VERSION),
    engines: z.array(
      z.strictObject({
        engine: z.literal('llamacpp'),
        engine_version: z.string().nullable(),
        ctx_max: z.int().min(0),
        supported_workloads: z.array(z.literal('completion')),
        slots_total: z.int().min(0),
        models: z.array(z.string()),
      }),
    ),
    admission: z.strictObject({ capacity: z.int().min(0), policy: z.enum(['reject', 'drop-lru']) }),
  }),
  'Capabilities',
  'Answer of GET /v2/meta/capabilities, computed from the pools seen now.',
);
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

export const VersionInfoSchema = named(
  z.strictObject({
    api_version: z.literal(API_VERSION),
    version: z.string().min(1),
    build_commit: z.string().nullable(),
  }),
  'VersionInfo',
  'Answer of GET /v2/meta/version.',
);
export type VersionInfo = z.infer<typeof VersionInfoSchema>;
