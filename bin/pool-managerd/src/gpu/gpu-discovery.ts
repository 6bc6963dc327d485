import { execFile } from 'node:child_process';
import { Periodic, type LifecycleLog } from '@llama-orch/lifecycle';
import { NVIDIA_SMI_QUERY, parseNvidiaSmi, type GpuInfo } from '@llama-orch/provisioning';

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
  readonly #onGpus: (gpus: readonly GpuInfo[]) => void;
  readonly #log: LifecycleLog;
  readonly #loop: Periodic;
  #lastProblem: string | null = null;

  constructor(
    env: NodeJS.ProcessEnv,
    intervalMs: number,
    onGpus: (gpus: readonly GpuInfo[]) => void,
    log: LifecycleLog,
  ) {
    this.#env = env;
    this.#onGpus = onGpus;
    this.#log = log;
    this.#loop = new Periodic({ name: 'gpu discovery', intervalMs, tick: () => this.discover(), log });
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

  /** Resolves after the first discovery, so the first status already knows the node's GPUs. */
  start(): Promise<void> {
    return this.#loop.start();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }
}
