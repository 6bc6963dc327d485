import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues, validate } from '@llama-orch/contracts';
import { DEFAULT_HF_ENDPOINT } from '@llama-orch/provisioning';
import type { LlorchEnv } from '../config.ts';

/**
 * The variables `pull`, `models` and `service` read beyond config.ts's: the same ones pool-managerd and
 * engine-provisioner read for the model cache (so that a pull lands where `llorch home` looks), and where the
 * systemd user units live. Parsed from the environment config.ts handed over, never from process.env.
 */
const CommandEnvSchema = z.object({
  HF_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  HF_TOKEN: z.string().min(1).optional(),
  ENGINE_PROVISIONER_CACHE_DIR: z.string().min(1).optional(),
  XDG_CONFIG_HOME: z.string().min(1).optional(),
  PATH: z.string().default(''),
});

export interface CommandEnv {
  readonly hfEndpoint: string;
  readonly hfToken: string | undefined;
  /** ENGINE_PROVISIONER_CACHE_DIR: wins over a config's cache_dir. */
  readonly cacheDirOverride: string | undefined;
  /** `$XDG_CONFIG_HOME` or `~/.config`. */
  readonly configHome: string;
  /** The directories of PATH, where `service --now` looks for systemctl. */
  readonly path: readonly string[];
}

export function commandEnv(env: LlorchEnv): { ok: true; value: CommandEnv } | { ok: false; message: string } {
  const vars = validate(CommandEnvSchema, env.env);
  if (!vars.ok) return { ok: false, message: describeIssues(vars.issues) };
  const v = vars.value;
  return {
    ok: true,
    value: Object.freeze({
      hfEndpoint: v.HF_ENDPOINT ?? DEFAULT_HF_ENDPOINT,
      hfToken: v.HF_TOKEN,
      cacheDirOverride:
        v.ENGINE_PROVISIONER_CACHE_DIR === undefined ? undefined : resolve(v.ENGINE_PROVISIONER_CACHE_DIR),
      configHome: v.XDG_CONFIG_HOME === undefined ? join(homedir(), '.config') : resolve(v.XDG_CONFIG_HOME),
      path: v.PATH.split(delimiter).filter((dir) => dir !== ''),
    }),
  };
}
