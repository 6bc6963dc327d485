import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  bindAddr,
  commaList,
  envInt as interval,
  loadNodeConfig,
  nodeIdFromHostname,
  splitList,
  type ResolvedNodeConfig,
  logLevel,
  tcpPort,
  isLoopbackHost,
} from '@llama-orch/config';
import { describeIssues, validate, type PoolConfig } from '@llama-orch/contracts';
import { DEFAULT_HF_ENDPOINT } from '@llama-orch/provisioning';
import { allowEntryProblem } from './control/model-allow-list.ts';

const EnvSchema = z.object({
  POOL_MANAGERD_BIND_ADDR: z.string().default('127.0.0.1:9200').pipe(bindAddr('127.0.0.1:9200')),
  POOL_MANAGERD_RUNTIME_DIR: z.string().min(1).optional(),
  POOL_MANAGERD_NODE_ID: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 and "-"')
    .optional(),
  POOL_MANAGERD_PROFILE: z.enum(['home', 'cloud']).default('home'),
  POOL_MANAGERD_WATCH_INTERVAL_MS: interval(50, 60_000).default(1000),
  POOL_MANAGERD_HEALTH_INTERVAL_MS: interval(50, 60_000).default(1000),
  POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS: interval(100, 600_000).default(5000),
  POOL_MANAGERD_FORGET_POOL_AFTER_MS: interval(100, 86_400_000).default(300_000),
  POOL_MANAGERD_HUNG_ENGINE_MS: interval(500, 3_600_000).default(30_000),
  POOL_MANAGERD_TLS_CERT: z.string().min(1).optional(),
  POOL_MANAGERD_TLS_KEY: z.string().min(1).optional(),
  POOL_MANAGERD_TLS_CA: z.string().min(1).optional(),
  POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: commaList(
    z.url({
      protocol: /^https?$/,
      error:
        'each entry must be the http(s) URL of an orchestratord, e.g. https://orchestratord:8080/callbacks/pool-ready',
    }),
  ),
  POOL_MANAGERD_AUTO_DELETE_HANDOFF: z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .default('false')
    .transform((flag) => flag === 'true' || flag === '1'),
  POOL_MANAGERD_KV_AFFINITY: z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .default('true')
    .transform((flag) => flag === 'true' || flag === '1'),
  PROMETHEUS_METRICS_PORT: tcpPort(9091).optional(),
  POOL_MANAGERD_MODEL_ALLOWLIST: z
    .string()
    .optional()
    .transform((list) => (list === undefined ? null : splitList(list)))
    .pipe(
      z
        .array(
          z.string().superRefine((entry, ctx) => {
            const problem = allowEntryProblem(entry);
            if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
          }),
        )
        .nullable(),
    ),
  LLORCH_CONFIG: z.string().min(1).optional(),
  ENGINE_PROVISIONER_CACHE_DIR: z.string().min(1).optional(),
  HF_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  LOG_LEVEL: logLevel(),
});

/** The variables this daemon reads (the deployment manifests' cross-check holds every variable they set to it). */
export const ENV_VARS: readonly string[] = Object.keys(EnvSchema.shape);

/** HOME: one box, loopback, TLS optional. CLOUD: mutual TLS required (ARCHITECTURE §5). */
export type Profile = 'home' | 'cloud';

export type TlsFiles = { readonly certFile: string; readonly keyFile: string; readonly caFile: string | undefined };

/** What the environment says, before any file is read. */
export interface EnvSettings {
  readonly profile: Profile;
  readonly host: string;
  readonly port: number;
  readonly tls: TlsFiles | null;
  /** Where a pool's readiness change is POSTed (orchestratord's /callbacks/pool-ready), over (m)TLS for https. */
  readonly callbackUrls: readonly string[];
  /** POOL_MANAGERD_RUNTIME_DIR; else the pool config's (or the default) once the file is read. */
  readonly runtimeDir: string | undefined;
  readonly nodeId: string | undefined;
  readonly watchIntervalMs: number;
  readonly healthIntervalMs: number;
  readonly gpuDiscoveryIntervalMs: number;
  /** POOL_MANAGERD_FORGET_POOL_AFTER_MS: a pool with no handoff left (and not configured here) is dropped after this. */
  readonly forgetPoolAfterMs: number;
  /** POOL_MANAGERD_HUNG_ENGINE_MS: a live engine silent on /health this long is killed (and so restarted). */
  readonly hungEngineMs: number;
  /** POOL_MANAGERD_AUTO_DELETE_HANDOFF: delete a handoff whose engine process is gone, once its replica is offline. */
  readonly autoDeleteHandoff: boolean;
  /**
   * POOL_MANAGERD_KV_AFFINITY: send a session's next turn (or a prompt with a known prefix) to the engine slot that
   * holds its prompt in KV cache. Off: least loaded replica, the engine picks the slot (as before issue 19).
   */
  readonly kvAffinity: boolean;
  /** PROMETHEUS_METRICS_PORT: `/metrics` also served alone on this port of the bind host; null: only on the API port. */
  readonly metricsPort: number | null;
  /**
   * POOL_MANAGERD_MODEL_ALLOWLIST: the model references a reload may name, besides the node config's models. Unset:
   * the demo in CLOUD; `*` (any reference, as before) in HOME, where the caller is the machine's own user.
   */
  readonly modelAllowList: readonly string[];
  readonly poolConfigFile: string | undefined;
  readonly cacheDir: string | undefined;
  readonly hfEndpoint: string;
  readonly logLevel: string;
  /** The environment engines and nvidia-smi run in. */
  readonly env: Readonly<NodeJS.ProcessEnv>;
}

/** The pools this process provisions and runs itself (HOME, LLORCH_CONFIG set). */
export interface InProcessSetup {
  readonly configFile: string;
  readonly cacheDir: string;
  readonly engine: ResolvedNodeConfig['engine'];
  readonly pools: readonly PoolConfig[];
  /** NodeConfig.memory_budget_bytes: what the engines of CPU pools may hold together (null: no limit). */
  readonly memoryBudgetBytes: number | null;
  /** NodeConfig.max_swap_wait_ms: how long a load waits for busy pools' memory before it swaps them out. */
  readonly maxSwapWaitMs: number;
}

/** pool-managerd's whole configuration, resolved once at start-up and frozen. */
export interface PoolManagerdConfig extends Omit<EnvSettings, 'runtimeDir' | 'nodeId' | 'cacheDir'> {
  readonly nodeId: string;
  readonly runtimeDir: string;
  /** `<runtimeDir>/engines`: the handoff files watched. */
  readonly handoffDir: string;
  /** null: this node only watches handoff files that an engine-provisioner elsewhere writes. */
  readonly inProcess: InProcessSetup | null;
}

export type Parsed<T> = { readonly ok: true; readonly config: T } | { readonly ok: false; readonly message: string };

/** Facts of the machine the defaults come from (injectable for tests). */
export interface HostContext {
  readonly hostname: string;
  readonly homeDir: string;
}

const TLS_VARS = ['POOL_MANAGERD_TLS_CERT', 'POOL_MANAGERD_TLS_KEY', 'POOL_MANAGERD_TLS_CA'] as const;

/** What each profile demands of the transport; the one place the profile decides anything. */
function profileRefusal(profile: Profile, env: NodeJS.ProcessEnv): string | null {
  switch (profile) {
    case 'home':
      return null;
    case 'cloud': {
      const missing = TLS_VARS.filter((name) => env[name] === undefined || env[name] === '');
      return missing.length === 0 ? null : `POOL_MANAGERD_PROFILE=cloud requires mutual TLS: set ${missing.join(', ')}`;
    }
  }
}

/**
 * orchestratord takes a readiness callback only from a caller it can trust by transport: over https a client
 * certificate (ours), over plain http a loopback peer. A URL that could never be accepted is refused here.
 */
function callbackUrlRefusal(urls: readonly string[], tls: TlsFiles | null): string | null {
  for (const url of urls) {
    const { protocol, hostname } = new URL(url);
    if (protocol === 'http:' && !isLoopbackHost(hostname))
      return `POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: ${url}: plain http only to loopback; use https (mutual TLS)`;
    if (protocol === 'https:' && tls === null)
      return `POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL: ${url}: https callbacks present our client certificate: set POOL_MANAGERD_TLS_CERT and POOL_MANAGERD_TLS_KEY`;
  }
  return null;
}

/** Parse the environment once; every problem names its variable. */
export function parseEnv(env: NodeJS.ProcessEnv): Parsed<EnvSettings> {
  const vars = validate(EnvSchema, env);
  if (!vars.ok) return { ok: false, message: describeIssues(vars.issues) };
  const v = vars.value;
  const { host, port } = v.POOL_MANAGERD_BIND_ADDR;
  const refusal = profileRefusal(v.POOL_MANAGERD_PROFILE, env);
  if (refusal !== null) return { ok: false, message: refusal };
  if ((v.POOL_MANAGERD_TLS_CERT === undefined) !== (v.POOL_MANAGERD_TLS_KEY === undefined)) {
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
  const metricsPort = v.PROMETHEUS_METRICS_PORT ?? null;
  if (metricsPort !== null && metricsPort !== 0 && metricsPort === port)
    return {
      ok: false,
      message: `PROMETHEUS_METRICS_PORT: must differ from the API port of POOL_MANAGERD_BIND_ADDR (${port})`,
    };
  if (tls === null && !isLoopbackHost(host)) {
    return {
      ok: false,
      message: `POOL_MANAGERD_BIND_ADDR: plain HTTP only on loopback; ${host} needs POOL_MANAGERD_TLS_CERT/KEY (and _CA for mTLS)`,
    };
  }
  const callbackRefusal = callbackUrlRefusal(v.POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL, tls);
  if (callbackRefusal !== null) return { ok: false, message: callbackRefusal };
  return {
    ok: true,
    config: Object.freeze({
      profile: v.POOL_MANAGERD_PROFILE,
      host,
      port,
      tls,
      callbackUrls: v.POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL,
      runtimeDir: v.POOL_MANAGERD_RUNTIME_DIR,
      nodeId: v.POOL_MANAGERD_NODE_ID,
      watchIntervalMs: v.POOL_MANAGERD_WATCH_INTERVAL_MS,
      healthIntervalMs: v.POOL_MANAGERD_HEALTH_INTERVAL_MS,
      gpuDiscoveryIntervalMs: v.POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS,
      forgetPoolAfterMs: v.POOL_MANAGERD_FORGET_POOL_AFTER_MS,
      hungEngineMs: v.POOL_MANAGERD_HUNG_ENGINE_MS,
      autoDeleteHandoff: v.POOL_MANAGERD_AUTO_DELETE_HANDOFF,
      kvAffinity: v.POOL_MANAGERD_KV_AFFINITY,
      metricsPort,
      modelAllowList: v.POOL_MANAGERD_MODEL_ALLOWLIST ?? (v.POOL_MANAGERD_PROFILE === 'cloud' ? ['demo'] : ['*']),
      poolConfigFile: v.LLORCH_CONFIG,
      cacheDir: v.ENGINE_PROVISIONER_CACHE_DIR,
      hfEndpoint: v.HF_ENDPOINT ?? DEFAULT_HF_ENDPOINT,
      logLevel: v.LOG_LEVEL,
      env: Object.freeze({ ...env }),
    }),
  };
}

/**
 * Read the pool config file (LLORCH_CONFIG) when there is one and settle the node id, runtime directory and cache
 * directory: the environment wins over the file, the file over the defaults. A bad file names the variable and the
 * file (and the key and line within it).
 */
export async function resolveNodeSetup(
  settings: EnvSettings,
  host: HostContext = { hostname: hostname(), homeDir: homedir() },
): Promise<Parsed<PoolManagerdConfig>> {
  let node: ResolvedNodeConfig | null = null;
  if (settings.poolConfigFile !== undefined) {
    const loaded = await loadNodeConfig(settings.poolConfigFile);
    if (!loaded.ok) return { ok: false, message: `LLORCH_CONFIG: ${loaded.message}` };
    node = loaded.value;
  }
  const runtimeDir =
    settings.runtimeDir !== undefined
      ? resolve(settings.runtimeDir)
      : (node?.runtime_dir ?? join(host.homeDir, '.local', 'state', 'llama-orch'));
  const { runtimeDir: _r, nodeId: _n, cacheDir, poolConfigFile, ...rest } = settings;
  return {
    ok: true,
    config: Object.freeze({
      ...rest,
      poolConfigFile,
      nodeId: settings.nodeId ?? node?.node_id ?? nodeIdFromHostname(host.hostname),
      runtimeDir,
      handoffDir: join(runtimeDir, 'engines'),
      inProcess:
        node === null || poolConfigFile === undefined
          ? null
          : Object.freeze({
              configFile: resolve(poolConfigFile),
              cacheDir: cacheDir !== undefined ? resolve(cacheDir) : node.cache_dir,
              engine: node.engine,
              pools: node.pools,
              memoryBudgetBytes: node.memory_budget_bytes ?? null,
              maxSwapWaitMs: node.max_swap_wait_ms,
            }),
    }),
  };
}

/** The environment, then the files it names: the whole configuration, or the first problem with its name. */
export async function loadConfig(env: NodeJS.ProcessEnv, host?: HostContext): Promise<Parsed<PoolManagerdConfig>> {
  const settings = parseEnv(env);
  if (!settings.ok) return settings;
  return resolveNodeSetup(settings.config, host);
}
