import { execFile } from 'node:child_process';
import { NVIDIA_SMI_QUERY, parseNvidiaSmi, type GpuInfo } from '@llama-orch/provisioning';
import type { Logger } from 'pino';

function nvidiaSmi(env: NodeJS.ProcessEnv): Promise<GpuInfo[] | string> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', NVIDIA_SMI_QUERY, { env, timeout: 10_000 }, (error, stdout) => {
      if (error)
        resolve(
          (error as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'nvidia-smi not found'
            : `nvidia-smi failed: ${error.message}`,
        );
      else resolve(parseNvidiaSmi(stdout));
    });
  });
}

/** Runs nvidia-smi every interval; no nvidia-smi (or no GPU) is a CPU node, not an error. */
export class GpuDiscovery {
  readonly #env: NodeJS.ProcessEnv;
  readonly #intervalMs: number;
  readonly #onGpus: (gpus: readonly GpuInfo[]) => void;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #lastProblem: string | null = null;

  constructor(env: NodeJS.ProcessEnv, intervalMs: number, onGpus: (gpus: readonly GpuInfo[]) => void, log: Logger) {
    this.#env = env;
    this.#intervalMs = intervalMs;
    this.#onGpus = onGpus;
    this.#log = log;
  }

  async discover(): Promise<void> {
    const result = await nvidiaSmi(this.#env);
    if (typeof result === 'string') {
      if (result !== this.#lastProblem)
        this.#log.info({ reason: result }, 'no GPU discovered; pools report device cpu');
      this.#lastProblem = result;
      this.#onGpus([]);
      return;
    }
    this.#lastProblem = null;
    this.#onGpus(result);
  }

  async start(): Promise<void> {
    await this.discover();
    this.#timer = setInterval(() => void this.discover(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
