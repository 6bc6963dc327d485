import { parseArgs } from 'node:util';
import { z } from 'zod';
import { describeIssues, validate } from '@llama-orch/contracts';

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
