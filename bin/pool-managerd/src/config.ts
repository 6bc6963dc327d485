import { isIP } from 'node:net';
import { z } from 'zod';
import { describeIssues, validate } from '@llama-orch/contracts';

const BindAddrSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/, 'must be host:port, e.g. 127.0.0.1:9200');
const interval = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const EnvSchema = z.object({
  POOL_MANAGERD_BIND_ADDR: BindAddrSchema.default('127.0.0.1:9200'),
  POOL_MANAGERD_RUNTIME_DIR: z.string().min(1).optional(),
  POOL_MANAGERD_NODE_ID: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 and "-"')
    .optional(),
  POOL_MANAGERD_PROFILE: z.enum(['home', 'cloud']).default('home'),
  POOL_MANAGERD_WATCH_INTERVAL_MS: interval(50, 60_000).default(1000),
  POOL_MANAGERD_HEALTH_INTERVAL_MS: interval(50, 60_000).default(1000),
  POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS: interval(100, 600_000).default(5000),
  POOL_MANAGERD_TLS_CERT: z.string().min(1).optional(),
  POOL_MANAGERD_TLS_KEY: z.string().min(1).optional(),
  POOL_MANAGERD_TLS_CA: z.string().min(1).optional(),
  LLORCH_CONFIG: z.string().min(1).optional(),
  ENGINE_PROVISIONER_CACHE_DIR: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface PoolManagerdConfig {
  readonly host: string;
  readonly port: number;
  readonly profile: 'home' | 'cloud';
  /** Set by POOL_MANAGERD_RUNTIME_DIR; else taken from the pool config (or the default) at start-up. */
  readonly runtimeDir: string | undefined;
  readonly nodeId: string | undefined;
  readonly watchIntervalMs: number;
  readonly healthIntervalMs: number;
  readonly gpuDiscoveryIntervalMs: number;
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string | undefined } | null;
  readonly poolConfigFile: string | undefined;
  readonly cacheDir: string | undefined;
  readonly logLevel: string;
  /** The environment engines and nvidia-smi run in. */
  readonly env: NodeJS.ProcessEnv;
}

export type ConfigOutcome =
  { readonly ok: true; readonly config: PoolManagerdConfig } | { readonly ok: false; readonly message: string };

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/** Parse the environment once; every problem names its variable. */
export function parseConfig(env: NodeJS.ProcessEnv): ConfigOutcome {
  const vars = validate(EnvSchema, env);
  if (!vars.ok) return { ok: false, message: describeIssues(vars.issues) };
  const v = vars.value;
  const at = v.POOL_MANAGERD_BIND_ADDR.lastIndexOf(':');
  const host = v.POOL_MANAGERD_BIND_ADDR.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(v.POOL_MANAGERD_BIND_ADDR.slice(at + 1));
  if (port > 65535) return { ok: false, message: 'POOL_MANAGERD_BIND_ADDR: port must be at most 65535' };

  if (
    v.POOL_MANAGERD_PROFILE === 'cloud' &&
    (v.POOL_MANAGERD_TLS_CERT === undefined ||
      v.POOL_MANAGERD_TLS_KEY === undefined ||
      v.POOL_MANAGERD_TLS_CA === undefined)
  ) {
    const missing = ['POOL_MANAGERD_TLS_CERT', 'POOL_MANAGERD_TLS_KEY', 'POOL_MANAGERD_TLS_CA'].filter(
      (name) => env[name] === undefined,
    );
    return { ok: false, message: `POOL_MANAGERD_PROFILE=cloud requires mutual TLS: set ${missing.join(', ')}` };
  }
  const tlsVars = [v.POOL_MANAGERD_TLS_CERT, v.POOL_MANAGERD_TLS_KEY];
  if ((tlsVars[0] === undefined) !== (tlsVars[1] === undefined)) {
    return { ok: false, message: 'POOL_MANAGERD_TLS_CERT and POOL_MANAGERD_TLS_KEY: set both or neither' };
  }
  if (v.POOL_MANAGERD_TLS_CA !== undefined && v.POOL_MANAGERD_TLS_CERT === undefined) {
    return {
      ok: false,
      message:
        'POOL_MANAGERD_TLS_CA: needs POOL_MANAGERD_TLS_CERT and POOL_MANAGERD_TLS_KEY (mutual TLS is served over HTTPS)',
    };
  }
  const tls =
    v.POOL_MANAGERD_TLS_CERT !== undefined && v.POOL_MANAGERD_TLS_KEY !== undefined
      ? { certFile: v.POOL_MANAGERD_TLS_CERT, keyFile: v.POOL_MANAGERD_TLS_KEY, caFile: v.POOL_MANAGERD_TLS_CA }
      : null;
  if (tls === null && !isLoopback(host)) {
    return {
      ok: false,
      message: `POOL_MANAGERD_BIND_ADDR: plain HTTP only on loopback; ${host} needs POOL_MANAGERD_TLS_CERT/KEY (and _CA for mTLS)`,
    };
  }
  return {
    ok: true,
    config: Object.freeze({
      host,
      port,
      profile: v.POOL_MANAGERD_PROFILE,
      runtimeDir: v.POOL_MANAGERD_RUNTIME_DIR,
      nodeId: v.POOL_MANAGERD_NODE_ID,
      watchIntervalMs: v.POOL_MANAGERD_WATCH_INTERVAL_MS,
      healthIntervalMs: v.POOL_MANAGERD_HEALTH_INTERVAL_MS,
      gpuDiscoveryIntervalMs: v.POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS,
      tls,
      poolConfigFile: v.LLORCH_CONFIG,
      cacheDir: v.ENGINE_PROVISIONER_CACHE_DIR,
      logLevel: v.LOG_LEVEL,
      env: Object.freeze({ ...env }),
    }),
  };
}
