import type { PoolStatus } from '@llama-orch/contracts';
import { DEFAULT_URL } from '../config.ts';
import type { FailureCode } from './failure-codes.ts';
import type { HomeConfig } from './home-config.ts';
import { fellBackToCpu, type DeviceChoice } from './narrate.ts';

export interface ReadyFacts {
  readonly url: string;
  readonly config: HomeConfig;
  readonly seconds: number;
  /** The pools as pool-managerd reports them when all are ready. */
  readonly pools: readonly PoolStatus[];
  /** What pool-managerd chose for each pool's device, and why. */
  readonly devices: ReadonlyMap<string, DeviceChoice>;
  readonly logsDir: string;
}

function poolLine(facts: ReadyFacts, pool: { id: string; model: string }): string[] {
  const status = facts.pools.find((p) => p.pool_id === pool.id);
  const choice = facts.devices.get(pool.id);
  const device = status?.device ?? choice?.device ?? '?';
  const lines = [
    `  pool ${pool.id}: ${pool.model} on ${device}${facts.config.demo ? '  [DEMO: tiny generated weights — not a real model; it says "Hello from the demo model." and can call tools]' : ''}`,
  ];
  if (choice !== undefined && fellBackToCpu(choice))
    lines.push(
      `    ! gpus ${JSON.stringify(choice.gpus)} were asked for (device: ${choice.requested}), but this pool runs on the CPU:`,
      `      ${choice.reason}`,
    );
  return lines;
}

export function readyMessage(facts: ReadyFacts): string {
  const { url, config } = facts;
  const model = config.pools[0]?.model ?? 'demo';
  // Elsewhere than the default, `llorch` finds this tree through its state directory; the variable says it plainly.
  const llorch = url === DEFAULT_URL ? 'npx llorch' : `LLORCH_URL=${url} npx llorch`;
  const lines = [
    '',
    `llama-orch is ready in ${facts.seconds.toFixed(1)} s: ${url}/v1 (OpenAI-compatible), ${url}/v2/tasks (native)`,
    `  operator page: ${url}/ui`,
    ...config.pools.flatMap((p) => poolLine(facts, p)),
    '',
    'Try it:',
    `  curl -s ${url}/v1/chat/completions -H 'content-type: application/json' \\`,
    `    -d '{"model":"${model}","messages":[{"role":"user","content":"Say hello"}],"max_tokens":32}'`,
    `  ${llorch} chat "Say hello"      ${llorch} status`,
    '',
    '  // with the openai client',
    `  const client = new OpenAI({ baseURL: '${url}/v1', apiKey: 'unused' });`,
    `  await client.chat.completions.create({ model: '${model}', messages: [{ role: 'user', content: 'Hi' }] });`,
    '',
  ];
  if (url !== DEFAULT_URL) lines.push(`Other terminals: export LLORCH_URL=${url}`, '');
  if (config.demo) {
    lines.push(
      'Serve a real model:',
      '  npx llorch home --model hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf',
      '  npx llorch home --model ./models/my-model.gguf     (a GGUF file you have)',
      '  npx llorch home --config pools.yaml     (several pools, chosen GPUs: see README)',
      '',
    );
  }
  lines.push(`Logs: ${facts.logsDir}`, 'Ctrl-C stops everything, engines included.', '');
  return lines.join('\n');
}

const INSTALL_CUDA = 'Install the CUDA toolkit with cuBLAS, or set engine.device: cpu.';

/** What to do, by the code of what went wrong (see libs/provisioning/src/errors.ts and the plan findings). */
const HINTS: Partial<Record<FailureCode, string>> = {
  EADDRINUSE:
    'A port is taken: stop what uses it, or choose others with ORCHD_BIND_ADDR=127.0.0.1:8081 and POOL_MANAGERD_BIND_ADDR=127.0.0.1:9201.',
  CMAKE_MISSING: 'Install cmake (e.g. sudo apt-get install cmake).',
  COMPILER_MISSING: 'Install a C++ compiler (e.g. sudo apt-get install g++).',
  GIT_MISSING: 'Install git (e.g. sudo apt-get install git).',
  TAR_MISSING: 'Install tar (e.g. sudo apt-get install tar).',
  NVCC_MISSING: INSTALL_CUDA,
  CUBLAS_MISSING: INSTALL_CUDA,
  NO_GPU: 'No NVIDIA GPU is visible: set engine.device: cpu, or auto.',
  PROV_MODEL_NOT_GGUF: 'The model file is not GGUF: check the path or URL (llama.cpp serves .gguf files).',
  PROV_MODEL_NOT_FOUND: 'The model file does not exist: check the file: path.',
  PROV_MODEL_DIGEST_MISMATCH: 'The model is not the one the sha256 in the config names: check both.',
  PROV_MODEL_FETCH_FAILED: [
    'The model could not be downloaded. Next steps:',
    '  - a GGUF file you already have: npx llorch home --model /path/to/model.gguf (in a config: model: file:/path/to/model.gguf)',
    '  - a Hugging Face mirror: HF_ENDPOINT=https://<mirror> npx llorch home …',
    '  - behind a proxy: HTTPS_PROXY=http://<proxy>:<port> (and NO_PROXY for exceptions)',
    '  - a gated model: HF_TOKEN=<token>; `npx llorch pull <ref>` downloads it alone, resumably.',
  ].join('\n'),
  PROV_BUILD_FAILED: 'Building llama.cpp failed: the build log named above says why.',
};

const known = (code: string): code is FailureCode => Object.hasOwn(HINTS, code);

/** What to do about a daemon or pool that could not start, decided by the codes it logged (first known wins). */
export function knownHint(codes: readonly string[]): string | null {
  for (const code of codes) {
    const hint = known(code) ? HINTS[code] : undefined;
    if (hint !== undefined) return hint;
  }
  return null;
}

/** knownHint, or the general advice when no code is known. */
export function hintFor(codes: readonly string[]): string {
  return knownHint(codes) ?? 'See the log above; every daemon logs why it stopped.';
}
