import type { HostFacts } from '../src/index.ts';

const tool = (path: string, version: string) => ({ path, version });

/** A CPU-only build host. */
export const cpuHost: HostFacts = {
  cpuCount: 2,
  cmake: tool('/usr/bin/cmake', 'cmake version 3.25.1'),
  ninja: tool('/usr/bin/ninja', '1.11.1'),
  git: tool('/usr/bin/git', 'git version 2.39.5'),
  cc: tool('/usr/bin/cc', 'cc (Debian 12.2.0-14) 12.2.0'),
  cxx: tool('/usr/bin/c++', 'c++ (Debian 12.2.0-14) 12.2.0'),
  npm: tool('/usr/bin/npm', '11.19.1'),
  tar: tool('/usr/bin/tar', 'tar (GNU tar) 1.34'),
  gpus: [],
  gpuProbe: 'nvidia-smi not found on PATH',
  cuda: { nvcc: null, root: null, cublas: null },
};

const gpu = (index: number, name: string, cc: string) => ({
  index,
  uuid: `GPU-${index}`,
  name,
  memoryTotalBytes: 24 * 1024 ** 3,
  memoryUsedBytes: 1024 ** 3,
  memoryFreeBytes: 23 * 1024 ** 3,
  computeCapability: cc,
});

/** Two GPUs and a complete CUDA toolkit. */
export const cudaHost: HostFacts = {
  ...cpuHost,
  cpuCount: 16,
  gpus: [gpu(0, 'NVIDIA GeForce RTX 3090', '8.6'), gpu(1, 'NVIDIA GeForce RTX 4090', '8.9')],
  gpuProbe: null,
  cuda: {
    nvcc: tool('/usr/local/cuda/bin/nvcc', 'Cuda compilation tools, release 12.6, V12.6.77'),
    root: '/usr/local/cuda',
    cublas: '/usr/local/cuda/lib64/libcublas.so.12',
  },
};

/** GPUs and nvcc, but no cuBLAS: like the development machines. */
export const nvccOnlyHost: HostFacts = { ...cudaHost, cuda: { ...cudaHost.cuda, cublas: null } };
