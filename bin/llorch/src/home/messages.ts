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

/** What to do about a daemon that could not start. */
export function hintFor(stderr: string): string {
  if (/EADDRINUSE|address already in use/i.test(stderr)) {
    return 'A port is taken: stop what uses it, or choose others with ORCHD_BIND_ADDR=127.0.0.1:8081 and POOL_MANAGERD_BIND_ADDR=127.0.0.1:9201.';
  }
  if (/cmake not found|CMAKE_MISSING/.test(stderr)) return 'Install cmake (e.g. sudo apt-get install cmake).';
  if (/COMPILER_MISSING|g\+\+ not found/.test(stderr)) return 'Install a C++ compiler (e.g. sudo apt-get install g++).';
  if (/cuBLAS missing|nvcc not found/.test(stderr))
    return 'Install the CUDA toolkit with cuBLAS, or set engine.device: cpu.';
  if (/not a GGUF model/.test(stderr))
    return 'The model file is not GGUF: check the path or URL (llama.cpp serves .gguf files).';
  return 'See the log above; every daemon logs why it stopped.';
}
