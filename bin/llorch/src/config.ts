import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues, validate } from '@llama-orch/contracts';

const EnvSchema = z.object({
  LLORCH_CONFIG: z.string().min(1).optional(),
  LLORCH_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8080'),
  LLORCH_API_KEY: z.string().min(1).optional(),
  ORCHD_BIND_ADDR: z.string().default('127.0.0.1:8080'),
  POOL_MANAGERD_BIND_ADDR: z.string().default('127.0.0.1:9200'),
  POOL_MANAGERD_RUNTIME_DIR: z.string().min(1).optional(),
});

export interface LlorchEnv {
  readonly poolConfig: string | undefined;
  /** orchestratord for status/chat/submit/pools. */
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly orchdBind: string;
  readonly poolManagerdBind: string;
  /** Where `llorch home` keeps its state (lock, generated demo config, handoffs). */
  readonly stateDir: string;
  /** The whole environment, handed to the daemons `llorch home` starts. */
  readonly env: NodeJS.ProcessEnv;
}

export function parseEnv(env: NodeJS.ProcessEnv): { ok: true; value: LlorchEnv } | { ok: false; message: string } {
  const vars = validate(EnvSchema, env);
  if (!vars.ok) return { ok: false, message: describeIssues(vars.issues) };
  const v = vars.value;
  return {
    ok: true,
    value: Object.freeze({
      poolConfig: v.LLORCH_CONFIG,
      url: v.LLORCH_URL.replace(/\/+$/, ''),
      apiKey: v.LLORCH_API_KEY,
      orchdBind: v.ORCHD_BIND_ADDR,
      poolManagerdBind: v.POOL_MANAGERD_BIND_ADDR,
      stateDir:
        v.POOL_MANAGERD_RUNTIME_DIR !== undefined
          ? resolve(v.POOL_MANAGERD_RUNTIME_DIR)
          : join(homedir(), '.local', 'state', 'llama-orch'),
      env: Object.freeze({ ...env }),
    }),
  };
}
