import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { describeIssues, validate } from '@llama-orch/contracts';
import type { PoolConfig } from '@llama-orch/contracts';
import type { HostFacts } from '@llama-orch/provisioning';

export const USAGE = `engine-provisioner — build llama.cpp, fetch models, launch engines, write handoff files

Usage:
  engine-provisioner plan [--config <file>] [--pool <id>]...   print the plan as JSON; runs nothing
  engine-provisioner up   [--config <file>] [--pool <id>]...   provision and keep the engines running (foreground)

The config file defaults to $LLORCH_CONFIG. Environment:
  ENGINE_PROVISIONER_CACHE_DIR       overrides cache_dir (llama.cpp builds, models, logs)
  ENGINE_PROVISIONER_HANDOFF_DIR     where handoff files go (default <runtime_dir>/engines)
  ENGINE_PROVISIONER_GPU_MASK        GPU indexes this provisioner may use, e.g. "0,1"
  ENGINE_PROVISIONER_HEALTH_TIMEOUT_MS  how long an engine may take to answer /health (default 120000)
  HF_ENDPOINT, HF_TOKEN              Hugging Face endpoint and token for hf: models
`;

const EnvSchema = z.object({
  LLORCH_CONFIG: z.string().min(1).optional(),
  ENGINE_PROVISIONER_CACHE_DIR: z.string().min(1).optional(),
  ENGINE_PROVISIONER_HANDOFF_DIR: z.string().min(1).optional(),
  ENGINE_PROVISIONER_GPU_MASK: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'must be GPU indexes separated by commas, e.g. "0,1"')
    .optional(),
  ENGINE_PROVISIONER_HEALTH_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).optional(),
  HF_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  HF_TOKEN: z.string().min(1).optional(),
});

/** The variables this daemon reads (the deployment manifests' cross-check holds every variable they set to it). */
export const ENV_VARS: readonly string[] = Object.keys(EnvSchema.shape);

export interface ProvisionerCli {
  readonly command: 'plan' | 'up';
  readonly configFile: string;
  readonly pools: readonly string[] | undefined;
  readonly cacheDir: string | undefined;
  readonly handoffDir: string | undefined;
  readonly gpuMask: readonly number[] | undefined;
  readonly healthTimeoutMs: number;
  readonly hfEndpoint: string | undefined;
  readonly hfToken: string | undefined;
  /** The environment the engines and tool probes run in. */
  readonly env: NodeJS.ProcessEnv;
}

export type CliOutcome =
  | { readonly kind: 'run'; readonly cli: ProvisionerCli }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** Parse argv and the environment once, into a frozen value; every problem names the flag or variable. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliOutcome {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        pool: { type: 'string', short: 'p', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  }
  if (parsed.values.help === true) return { kind: 'help' };
  const [command, ...extra] = parsed.positionals;
  if (command !== 'plan' && command !== 'up') {
    return {
      kind: 'error',
      message: command === undefined ? 'missing command: plan or up' : `unknown command "${command}": plan or up`,
    };
  }
  if (extra.length > 0) return { kind: 'error', message: `unexpected argument "${extra.join(' ')}"` };
  const vars = validate(EnvSchema, env);
  if (!vars.ok) return { kind: 'error', message: `bad environment: ${describeIssues(vars.issues)}` };
  const configFile = parsed.values.config ?? vars.value.LLORCH_CONFIG;
  if (configFile === undefined)
    return { kind: 'error', message: 'no config: pass --config <file> or set LLORCH_CONFIG' };
  const mask = vars.value.ENGINE_PROVISIONER_GPU_MASK;
  return {
    kind: 'run',
    cli: Object.freeze({
      command,
      configFile,
      pools: parsed.values.pool,
      cacheDir: vars.value.ENGINE_PROVISIONER_CACHE_DIR,
      handoffDir: vars.value.ENGINE_PROVISIONER_HANDOFF_DIR,
      gpuMask: mask === undefined ? undefined : mask.split(',').map(Number),
      healthTimeoutMs: vars.value.ENGINE_PROVISIONER_HEALTH_TIMEOUT_MS ?? 120_000,
      hfEndpoint: vars.value.HF_ENDPOINT,
      hfToken: vars.value.HF_TOKEN,
      env: Object.freeze({ ...env }),
    }),
  };
}

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/**
 * ENGINE_PROVISIONER_GPU_MASK applied to the GPUs nvidia-smi lists: the host as this provisioner may use it (pools
 * see only the masked GPUs), or a message naming the variable when the mask names a GPU the host does not have.
 */
export function applyGpuMask(host: HostFacts, mask: readonly number[] | undefined): Checked<HostFacts> {
  if (mask === undefined) return { ok: true, value: host };
  const listed = host.gpus.map((gpu) => gpu.index);
  const unknown = mask.filter((index) => !listed.includes(index));
  if (unknown.length > 0)
    return {
      ok: false,
      message: `ENGINE_PROVISIONER_GPU_MASK: GPU ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not on this host (nvidia-smi lists ${listed.length === 0 ? 'none' : listed.join(', ')})`,
    };
  return { ok: true, value: { ...host, gpus: host.gpus.filter((gpu) => mask.includes(gpu.index)) } };
}

/**
 * ENGINE_PROVISIONER_GPU_MASK for the pools: a pool that names no `gpus` runs on the masked GPUs (its engines get
 * CUDA_VISIBLE_DEVICES=<mask> on a CUDA build, and its handoff lists them); a pool that names its GPUs keeps them
 * (the plan refuses those the mask leaves out). The config refuses `gpus` with `device: cpu`; a mask there changes
 * nothing on the engines (a CPU build sees no GPU).
 */
export function maskPools(pools: readonly PoolConfig[], mask: readonly number[] | undefined): PoolConfig[] {
  return pools.map((pool) => (mask === undefined || pool.gpus !== undefined ? pool : { ...pool, gpus: [...mask] }));
}

/**
 * Before `up` writes anything: ENGINE_PROVISIONER_HANDOFF_DIR and ENGINE_PROVISIONER_CACHE_DIR, when set, are
 * directories this process can write (created when missing); otherwise the first problem, naming its variable.
 */
export async function checkDirectories(cli: Pick<ProvisionerCli, 'handoffDir' | 'cacheDir'>): Promise<string | null> {
  const named: [string, string | undefined][] = [
    ['ENGINE_PROVISIONER_HANDOFF_DIR', cli.handoffDir],
    ['ENGINE_PROVISIONER_CACHE_DIR', cli.cacheDir],
  ];
  for (const [variable, dir] of named) {
    if (dir === undefined) continue;
    const path = resolve(dir);
    const info = await stat(path).catch(() => null);
    if (info !== null && !info.isDirectory()) return `${variable}: ${path} is not a directory`;
    try {
      if (info === null) await mkdir(path, { recursive: true });
      await access(path, constants.W_OK);
    } catch (error) {
      return `${variable}: ${path} is not a writable directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
    }
  }
  return null;
}
