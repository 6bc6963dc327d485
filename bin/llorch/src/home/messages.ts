import type { FailureCode } from './failure-codes.ts';
import type { HomeConfig } from './home-config.ts';

export function readyMessage(url: string, config: HomeConfig, seconds: number): string {
  const model = config.pools[0]?.model ?? 'demo';
  const lines = [
    '',
    `llama-orch is ready in ${seconds.toFixed(1)} s: ${url}/v1 (OpenAI-compatible), ${url}/v2/tasks (native)`,
    ...config.pools.map(
      (p) =>
        `  pool ${p.id}: ${p.model}${config.demo ? '  [DEMO: tiny random weights — the output is gibberish]' : ''}`,
    ),
    '',
    'Try it:',
    `  curl -s ${url}/v1/chat/completions -H 'content-type: application/json' \\`,
    `    -d '{"model":"${model}","messages":[{"role":"user","content":"Say hello"}],"max_tokens":32}'`,
    `  npx llorch chat "Say hello"      npx llorch status`,
    '',
    '  // with the openai client',
    `  const client = new OpenAI({ baseURL: '${url}/v1', apiKey: 'unused' });`,
    `  await client.chat.completions.create({ model: '${model}', messages: [{ role: 'user', content: 'Hi' }] });`,
    '',
  ];
  if (config.demo) {
    lines.push(
      'Serve a real model:',
      '  npx llorch home --model hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf',
      '  npx llorch home --config pools.yaml     (several pools, chosen GPUs: see README)',
      '',
    );
  }
  lines.push('Ctrl-C stops everything, engines included.', '');
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
  PROV_MODEL_FETCH_FAILED:
    'The model could not be downloaded: check the reference, the network, and HF_TOKEN for gated models.',
  PROV_BUILD_FAILED: 'Building llama.cpp failed: the build log named above says why.',
};

const known = (code: string): code is FailureCode => Object.hasOwn(HINTS, code);

/** What to do about a daemon or pool that could not start, decided by the codes it logged (first known wins). */
export function hintFor(codes: readonly string[]): string {
  for (const code of codes) {
    const hint = known(code) ? HINTS[code] : undefined;
    if (hint !== undefined) return hint;
  }
  return 'See the log above; every daemon logs why it stopped.';
}
