import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues, validate } from '@llama-orch/contracts';
import { runningHomeUrl } from './home/home-state.ts';

/** Where orchestratord listens unless told otherwise. */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

const EnvSchema = z.object({
  LLORCH_CONFIG: z.string().min(1).optional(),
  LLORCH_URL: z.url({ protocol: /^https?$/ }).optional(),
  LLORCH_API_KEY: z.string().min(1).optional(),
  ORCHD_BIND_ADDR: z.string().default('127.0.0.1:8080'),
  POOL_MANAGERD_BIND_ADDR: z.string().default('127.0.0.1:9200'),
  POOL_MANAGERD_RUNTIME_DIR: z.string().min(1).optional(),
  ORCHD_API_KEYS: z.string().optional(),
  ORCHD_API_KEYS_FILE: z.string().optional(),
  ORCHD_OIDC_ISSUER: z.string().optional(),
});

export interface LlorchEnv {
  readonly poolConfig: string | undefined;
  /**
   * orchestratord for status/chat/submit/pools: LLORCH_URL; else the `llorch home` running for the state directory,
   * on whatever port it listens; else http://127.0.0.1:8080.
   */
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly orchdBind: string;
  readonly poolManagerdBind: string;
  /** Whether orchestratord will require client credentials (ORCHD_API_KEYS, ORCHD_API_KEYS_FILE or ORCHD_OIDC_ISSUER). */
  readonly orchdAuth: boolean;
  /** Where `llorch home` keeps its state (lock, generated demo config, handoffs, logs). */
  readonly stateDir: string;
  /** The whole environment, handed to the daemons `llorch home` starts. */
  readonly env: NodeJS.ProcessEnv;
}

const set = (value: string | undefined): boolean => value !== undefined && value.trim() !== '';

export function parseEnv(env: NodeJS.ProcessEnv): { ok: true; value: LlorchEnv } | { ok: false; message: string } {
  const vars = validate(EnvSchema, env);
  if (!vars.ok) return { ok: false, message: describeIssues(vars.issues) };
  const v = vars.value;
  const stateDir =
    v.POOL_MANAGERD_RUNTIME_DIR !== undefined
      ? resolve(v.POOL_MANAGERD_RUNTIME_DIR)
      : join(homedir(), '.local', 'state', 'llama-orch');
  return {
    ok: true,
    value: Object.freeze({
      poolConfig: v.LLORCH_CONFIG,
      url: (v.LLORCH_URL ?? runningHomeUrl(stateDir) ?? DEFAULT_URL).replace(/\/+$/, ''),
      apiKey: v.LLORCH_API_KEY,
      orchdBind: v.ORCHD_BIND_ADDR,
      poolManagerdBind: v.POOL_MANAGERD_BIND_ADDR,
      orchdAuth: set(v.ORCHD_API_KEYS) || set(v.ORCHD_API_KEYS_FILE) || set(v.ORCHD_OIDC_ISSUER),
      stateDir,
      env: Object.freeze({ ...env }),
    }),
  };
}
