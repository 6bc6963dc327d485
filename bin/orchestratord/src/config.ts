import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { bindAddr, commaList, envInt as interval, splitList, logLevel, tcpPort } from '@llama-orch/config';
import { describeIssues, validate } from '@llama-orch/contracts';
import { parseKeyEntry, type KeyEntry } from './http/auth/api-keys.ts';
import { acceptableIssuerUrl, type OidcOptions } from './http/auth/oidc.ts';

/** A DNS name (labels of letters, digits, `-`, `_`), not an address. */
const DNS_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
/** The SRV prefix of pool-managerd records; the CLOUD spec's example names the SRV name itself. */
const SRV_PREFIX = '_pool-managerd._tcp.';
/** `ip`, `ipv4:port` or `[ipv6]:port`, as the resolver's setServers takes them. */
const isDnsServer = (entry: string): boolean => {
  if (isIP(entry) !== 0) return true; // a bare address: port 53
  const match = /^(?:\[(.+)\]|([^:]+)):(\d{1,5})$/.exec(entry);
  if (match === null) return false;
  const port = Number(match[3]);
  return isIP(match[1] ?? match[2] ?? '') === (match[1] === undefined ? 4 : 6) && port >= 1 && port <= 65535;
};

const EnvSchema = z.object({
  ORCHD_PROFILE: z.enum(['home', 'cloud']).default('home'),
  ORCHD_BIND_ADDR: bindAddr('127.0.0.1:8080').optional(),
  ORCHD_POOL_MANAGERS: z
    .string()
    .default('http://127.0.0.1:9200')
    .transform(splitList)
    .pipe(
      z
        .array(z.url({ protocol: /^https?$/, error: 'each entry must be an http(s) URL of a pool-managerd' }))
        .min(1, 'needs at least one pool-managerd URL'),
    ),
  ORCHD_POOL_MANAGERS_DNS: z
    .string()
    .regex(DNS_NAME, 'must be a DNS name, e.g. pool-managerd.llama-orch.svc.cluster.local')
    .refine((name) => isIP(name) === 0, 'must be a DNS name; put addresses in ORCHD_POOL_MANAGERS')
    .optional(),
  ORCHD_POOL_MANAGERS_PORT: interval(1, 65535).default(9200),
  ORCHD_DNS_SERVERS: commaList(
    z.string().refine(isDnsServer, 'each entry must be a DNS server address ip[:port], e.g. 10.96.0.10:53 or [::1]:53'),
  ),
  ORCHD_POOL_POLL_INTERVAL_MS: interval(50, 60_000).default(1000),
  ORCHD_POOL_REQUEST_TIMEOUT_MS: interval(50, 60_000).default(2000),
  ORCHD_ADMISSION_CAPACITY: interval(0, 1_000_000).default(64),
  ORCHD_ADMISSION_POLICY: z.enum(['reject', 'drop-lru']).default('reject'),
  ORCHD_DISPATCH_RETRIES: interval(0, 10).default(2),
  ORCHD_POOL_WAIT_MS: interval(0, 3_600_000).default(300_000),
  ORCHD_RECONNECT_GRACE_MS: interval(0, 600_000).default(2000),
  ORCHD_DECODE_TIMEOUT_MS: interval(100, 3_600_000).default(60_000),
  ORCHD_MAX_BODY_BYTES: interval(1024, 1 << 30).default(4 * 1024 * 1024),
  ORCHD_HEADERS_TIMEOUT_MS: interval(100, 600_000).default(10_000),
  ORCHD_REQUEST_TIMEOUT_MS: interval(100, 3_600_000).default(30_000),
  ORCHD_MAX_CONNECTIONS: interval(1, 1_000_000).default(4096),
  ORCHD_MAX_STREAMS_PER_CLIENT: interval(1, 1_000_000).default(1024),
  ORCHD_DEFAULT_MAX_TOKENS: interval(1, 1_000_000).default(2048),
  ORCHD_SSE_KEEPALIVE_MS: interval(100, 600_000).default(15_000),
  ORCHD_ALLOWED_ORIGINS: commaList(
    z.string().regex(/^https?:\/\/[^/\s]+$/, 'each origin must be scheme://host[:port], e.g. http://192.168.1.5:3000'),
  ),
  ORCHD_TLS_CERT: z.string().min(1).optional(),
  ORCHD_TLS_KEY: z.string().min(1).optional(),
  ORCHD_TLS_CA: z.string().min(1).optional(),
  ORCHD_API_KEYS: commaList(
    z.string().superRefine((entry, ctx) => {
      const parsed = parseKeyEntry(entry);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
    }),
  ),
  ORCHD_API_KEYS_FILE: z.string().min(1).optional(),
  ORCHD_OIDC_ISSUER: z
    .url({ protocol: /^https?$/, error: 'must be the issuer URL, e.g. https://auth.example.com/realms/llama-orch' })
    .refine((url) => acceptableIssuerUrl(new URL(url)), 'must be https (http only on a loopback address)')
    .optional(),
  ORCHD_OIDC_AUDIENCE: z.string().min(1).optional(),
  ORCHD_OIDC_ROLE_CLAIM: z
    .string()
    .regex(/^[\w:-]+(\.[\w:-]+)*$/, 'must be a claim name or a dotted path, e.g. llorch_role or realm_access.roles')
    .default('llorch_role'),
  ORCHD_SERVER_TLS_CERT: z.string().min(1).optional(),
  ORCHD_SERVER_TLS_KEY: z.string().min(1).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .url({
      protocol: /^https?$/,
      error: 'must be the http(s) URL of an OTLP/gRPC collector, e.g. http://127.0.0.1:4317',
    })
    .optional(),
  PROMETHEUS_METRICS_PORT: tcpPort(9090).optional(),
  ORCHD_DATABASE_URL: z
    .string()
    .regex(
      /^(sqlite:.+|postgres(ql)?:\/\/.+)$/,
      'must be sqlite:<file> (one orchestratord) or postgres://user:password@host:port/database (replicas share it)',
    )
    .optional(),
  ORCHD_BUDGETS_FILE: z.string().min(1).optional(),
  ORCHD_REPLICA_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be a name of letters, digits, dot, dash or underscore')
    .optional(),
  LOG_LEVEL: logLevel(),
});

/** The variables this daemon reads (the deployment manifests' cross-check holds every variable they set to it). */
export const ENV_VARS: readonly string[] = Object.keys(EnvSchema.shape);

export interface OrchestratordConfig {
  readonly profile: 'home' | 'cloud';
  readonly host: string;
  readonly port: number;
  readonly poolManagers: readonly string[];
  /**
   * ORCHD_POOL_MANAGERS_DNS: pool-managerds named in DNS (SRV at `srvName` when it has records, else A/AAAA of `name`
   * at `port`), re-resolved every poll interval; null: the static list only.
   */
  readonly poolManagersDns: {
    readonly name: string;
    readonly srvName: string;
    readonly port: number;
    readonly scheme: 'http' | 'https';
    /** ORCHD_DNS_SERVERS; empty: the system's resolvers. */
    readonly servers: readonly string[];
  } | null;
  readonly pollIntervalMs: number;
  readonly poolRequestTimeoutMs: number;
  readonly admissionCapacity: number;
  readonly admissionPolicy: 'reject' | 'drop-lru';
  readonly dispatchRetries: number;
  /** How long queued tasks wait while no pool for their model is up but one is starting or coming back. */
  readonly poolWaitMs: number;
  /** How long a task whose last event stream closed runs on, waiting for its client to reconnect. */
  readonly reconnectGraceMs: number;
  /** Request bodies past this many bytes are answered 413. */
  readonly maxBodyBytes: number;
  /** ORCHD_DECODE_TIMEOUT_MS: a streaming task whose engine sends nothing for this long ends with DECODE_TIMEOUT. */
  readonly decodeTimeoutMs: number;
  /** What one connection may hold (slow clients, connection count): libs/http's ConnectionLimits. */
  readonly connections: { headersTimeoutMs: number; requestTimeoutMs: number; maxConnections: number };
  /** Event streams (/v2 events, streamed /v1 answers) one client identity may hold open at once. */
  readonly maxStreamsPerClient: number;
  /** Output cap of an OpenAI request that names no max_tokens. */
  readonly defaultMaxTokens: number;
  /** A comment line on every open event stream this often, so proxies and clients do not time a quiet one out. */
  readonly sseKeepAliveMs: number;
  /** Web front ends (origins) allowed to call the API from a browser, besides its own. */
  readonly allowedOrigins: readonly string[];
  /** Client certificate for pool-managerd (mutual TLS). */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string | undefined } | null;
  /** ORCHD_API_KEYS: keys with their roles. */
  readonly apiKeys: readonly KeyEntry[];
  /** ORCHD_API_KEYS_FILE: more keys, one per line, re-read when the file changes. */
  readonly apiKeysFile: string | undefined;
  /** ORCHD_OIDC_*: bearer JWTs from this issuer for this audience. */
  readonly oidc: OidcOptions | null;
  /** ORCHD_SERVER_TLS_CERT/KEY: HTTPS for clients; null: plain HTTP. */
  readonly serverTls: { readonly certFile: string; readonly keyFile: string } | null;
  readonly logLevel: string;
  /** OTLP/gRPC collector for traces; none: tracing stays a no-op. */
  readonly otlpEndpoint: string | undefined;
  /** PROMETHEUS_METRICS_PORT: `/metrics` also served alone on this port of the bind host; null: only on the API port. */
  readonly metricsPort: number | null;
  /**
   * ORCHD_DATABASE_URL: the task journal and usage ledger — `sqlite:<file>` or a PostgreSQL URL; null: none (tasks are
   * kept in memory only, for 5 minutes after they end).
   */
  readonly database:
    { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string } | null;
  /** ORCHD_BUDGETS_FILE: daily budgets per identity, re-read when it changes. */
  readonly budgetsFile: string | undefined;
  /** ORCHD_REPLICA_ID: this orchestratord among replicas sharing a journal (default: the host name). */
  readonly replicaId: string;
}

export type ConfigOutcome =
  { readonly ok: true; readonly config: OrchestratordConfig } | { readonly ok: false; readonly message: string };

function databaseOf(url: string | undefined): OrchestratordConfig['database'] {
  if (url === undefined) return null;
  return url.startsWith('sqlite:')
    ? { kind: 'sqlite', path: resolve(url.slice('sqlite:'.length)) }
    : { kind: 'postgres', url };
}

/** Parse the environment once; every problem names its variable. */
export function parseConfig(env: NodeJS.ProcessEnv): ConfigOutcome {
  const vars = validate(EnvSchema, env);
  if (!vars.ok) return { ok: false, message: describeIssues(vars.issues) };
  const v = vars.value;
  const { host, port } = v.ORCHD_BIND_ADDR ?? {
    host: v.ORCHD_PROFILE === 'cloud' ? '0.0.0.0' : '127.0.0.1',
    port: 8080,
  };
  if ((v.ORCHD_TLS_CERT === undefined) !== (v.ORCHD_TLS_KEY === undefined))
    return { ok: false, message: 'ORCHD_TLS_CERT and ORCHD_TLS_KEY: set both or neither' };
  if (v.PROMETHEUS_METRICS_PORT !== undefined && v.PROMETHEUS_METRICS_PORT !== 0 && v.PROMETHEUS_METRICS_PORT === port)
    return {
      ok: false,
      message: `PROMETHEUS_METRICS_PORT: must differ from the API port of ORCHD_BIND_ADDR (${port})`,
    };
  if (v.ORCHD_PROFILE === 'cloud') {
    const missing = ['ORCHD_TLS_CERT', 'ORCHD_TLS_KEY', 'ORCHD_TLS_CA'].filter(
      (name) => env[name] === undefined || env[name] === '',
    );
    if (missing.length > 0)
      return {
        ok: false,
        message: `ORCHD_PROFILE=cloud requires mutual TLS to pool-managerd: set ${missing.join(', ')}`,
      };
    if (v.ORCHD_API_KEYS.length === 0 && v.ORCHD_API_KEYS_FILE === undefined && v.ORCHD_OIDC_ISSUER === undefined)
      return {
        ok: false,
        message:
          'ORCHD_PROFILE=cloud requires client authentication: ORCHD_API_KEYS (comma-separated client keys), ORCHD_API_KEYS_FILE or ORCHD_OIDC_ISSUER with ORCHD_OIDC_AUDIENCE',
      };
  }
  if (v.ORCHD_HEADERS_TIMEOUT_MS > v.ORCHD_REQUEST_TIMEOUT_MS)
    return {
      ok: false,
      message: `ORCHD_HEADERS_TIMEOUT_MS: must not exceed ORCHD_REQUEST_TIMEOUT_MS (${v.ORCHD_REQUEST_TIMEOUT_MS})`,
    };
  if ((v.ORCHD_OIDC_ISSUER === undefined) !== (v.ORCHD_OIDC_AUDIENCE === undefined))
    return { ok: false, message: 'ORCHD_OIDC_ISSUER and ORCHD_OIDC_AUDIENCE: set both or neither' };
  if (v.ORCHD_BUDGETS_FILE !== undefined && v.ORCHD_DATABASE_URL === undefined)
    return {
      ok: false,
      message: 'ORCHD_BUDGETS_FILE needs ORCHD_DATABASE_URL: budgets are reserved and settled in the journal',
    };
  if ((v.ORCHD_SERVER_TLS_CERT === undefined) !== (v.ORCHD_SERVER_TLS_KEY === undefined))
    return { ok: false, message: 'ORCHD_SERVER_TLS_CERT and ORCHD_SERVER_TLS_KEY: set both or neither' };
  const dnsName = v.ORCHD_POOL_MANAGERS_DNS?.replace(/\.$/, '');
  const dnsBase = dnsName?.startsWith(SRV_PREFIX) ? dnsName.slice(SRV_PREFIX.length) : dnsName;
  return {
    ok: true,
    config: Object.freeze({
      profile: v.ORCHD_PROFILE,
      host,
      port,
      // With DNS discovery and no static list, only what DNS names is polled (not the loopback default).
      poolManagers:
        dnsBase !== undefined && env['ORCHD_POOL_MANAGERS'] === undefined
          ? []
          : v.ORCHD_POOL_MANAGERS.map((u) => u.replace(/\/+$/, '')),
      poolManagersDns:
        dnsBase === undefined
          ? null
          : Object.freeze({
              name: dnsBase,
              srvName: `${SRV_PREFIX}${dnsBase}`,
              port: v.ORCHD_POOL_MANAGERS_PORT,
              scheme: v.ORCHD_TLS_CERT !== undefined ? ('https' as const) : ('http' as const),
              servers: v.ORCHD_DNS_SERVERS,
            }),
      pollIntervalMs: v.ORCHD_POOL_POLL_INTERVAL_MS,
      poolRequestTimeoutMs: v.ORCHD_POOL_REQUEST_TIMEOUT_MS,
      admissionCapacity: v.ORCHD_ADMISSION_CAPACITY,
      admissionPolicy: v.ORCHD_ADMISSION_POLICY,
      dispatchRetries: v.ORCHD_DISPATCH_RETRIES,
      poolWaitMs: v.ORCHD_POOL_WAIT_MS,
      reconnectGraceMs: v.ORCHD_RECONNECT_GRACE_MS,
      maxBodyBytes: v.ORCHD_MAX_BODY_BYTES,
      decodeTimeoutMs: v.ORCHD_DECODE_TIMEOUT_MS,
      connections: {
        headersTimeoutMs: v.ORCHD_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: v.ORCHD_REQUEST_TIMEOUT_MS,
        maxConnections: v.ORCHD_MAX_CONNECTIONS,
      },
      maxStreamsPerClient: v.ORCHD_MAX_STREAMS_PER_CLIENT,
      defaultMaxTokens: v.ORCHD_DEFAULT_MAX_TOKENS,
      sseKeepAliveMs: v.ORCHD_SSE_KEEPALIVE_MS,
      allowedOrigins: v.ORCHD_ALLOWED_ORIGINS,
      tls:
        v.ORCHD_TLS_CERT !== undefined && v.ORCHD_TLS_KEY !== undefined
          ? { certFile: v.ORCHD_TLS_CERT, keyFile: v.ORCHD_TLS_KEY, caFile: v.ORCHD_TLS_CA }
          : null,
      apiKeys: v.ORCHD_API_KEYS.flatMap((entry) => {
        const parsed = parseKeyEntry(entry); // each entry passed this check in the schema
        return parsed.ok ? [parsed.entry] : [];
      }),
      apiKeysFile: v.ORCHD_API_KEYS_FILE,
      oidc:
        v.ORCHD_OIDC_ISSUER !== undefined && v.ORCHD_OIDC_AUDIENCE !== undefined
          ? { issuer: v.ORCHD_OIDC_ISSUER, audience: v.ORCHD_OIDC_AUDIENCE, roleClaim: v.ORCHD_OIDC_ROLE_CLAIM }
          : null,
      serverTls:
        v.ORCHD_SERVER_TLS_CERT !== undefined && v.ORCHD_SERVER_TLS_KEY !== undefined
          ? { certFile: v.ORCHD_SERVER_TLS_CERT, keyFile: v.ORCHD_SERVER_TLS_KEY }
          : null,
      logLevel: v.LOG_LEVEL,
      otlpEndpoint: v.OTEL_EXPORTER_OTLP_ENDPOINT,
      metricsPort: v.PROMETHEUS_METRICS_PORT ?? null,
      database: databaseOf(v.ORCHD_DATABASE_URL),
      budgetsFile: v.ORCHD_BUDGETS_FILE,
      replicaId: v.ORCHD_REPLICA_ID ?? hostname(),
    }),
  };
}
