import type { HostFacts } from '../host/host-facts.ts';
import { cudaArchitectureOf } from '../host/nvidia-smi.ts';

/** Stable codes of plan findings: what is missing or odd on this host for this config. */
export type FindingCode =
  | 'NO_GPU'
  | 'NVCC_MISSING'
  | 'CUBLAS_MISSING'
  | 'CUDA_ARCH_UNKNOWN'
  | 'CMAKE_MISSING'
  | 'COMPILER_MISSING'
  | 'GIT_MISSING'
  | 'NPM_MISSING'
  | 'TAR_MISSING'
  | 'BINARY_DEVICE'
  | 'UNKNOWN_POOL'
  | 'UNKNOWN_GPU';

export interface Finding {
  readonly level: 'info' | 'warn' | 'error';
  readonly code: FindingCode;
  readonly message: string;
}

export interface DeviceChoice {
  readonly requested: 'auto' | 'cuda' | 'cpu';
  readonly chosen: 'cuda' | 'cpu';
  readonly reason: string;
  /** CMAKE_CUDA_ARCHITECTURES entries; empty lets llama.cpp build its default list. */
  readonly cudaArchitectures: readonly string[];
  readonly findings: readonly Finding[];
}

/** What is missing for a CUDA build on this host, as findings of the given level. */
function cudaGaps(host: HostFacts, level: Finding['level']): Finding[] {
  const gaps: Finding[] = [];
  if (host.gpus.length === 0)
    gaps.push({ level, code: 'NO_GPU', message: `no NVIDIA GPU: ${host.gpuProbe ?? 'none listed'}` });
  if (host.cuda.nvcc === null) {
    gaps.push({
      level,
      code: 'NVCC_MISSING',
      message: 'CUDA toolkit missing: nvcc not found (PATH, /usr/local/cuda/bin, /opt/cuda/bin)',
    });
  } else if (host.cuda.cublas === null) {
    gaps.push({
      level,
      code: 'CUBLAS_MISSING',
      message: `cuBLAS missing: nvcc is at ${host.cuda.nvcc.path} but no libcublas.so is under ${host.cuda.root ?? '?'} (install the CUDA toolkit's cuBLAS, e.g. the libcublas-dev package)`,
    });
  }
  return gaps;
}

/** Decide CPU or CUDA for this node, with the reason and the findings that explain it. */
export function chooseDevice(
  requested: 'auto' | 'cuda' | 'cpu',
  host: HostFacts,
  configuredArchitectures: readonly string[] | undefined,
): DeviceChoice {
  const detected = [
    ...new Set(
      host.gpus.flatMap((g) => (g.computeCapability === null ? [] : [cudaArchitectureOf(g.computeCapability)])),
    ),
  ].sort();
  const architectures = configuredArchitectures ?? detected;
  const archFindings: Finding[] =
    architectures.length === 0
      ? [
          {
            level: 'warn',
            code: 'CUDA_ARCH_UNKNOWN',
            message:
              'no GPU reports a compute capability; llama.cpp will build its default (longer) list of CUDA architectures',
          },
        ]
      : [];

  if (requested === 'cpu') {
    return { requested, chosen: 'cpu', reason: 'engine.device is "cpu"', cudaArchitectures: [], findings: [] };
  }
  if (requested === 'cuda') {
    return {
      requested,
      chosen: 'cuda',
      reason: 'engine.device is "cuda"',
      cudaArchitectures: architectures,
      findings: [...cudaGaps(host, 'error'), ...archFindings],
    };
  }
  const gaps = cudaGaps(host, 'info');
  if (gaps.length === 0) {
    const names = host.gpus.map((g) => `${g.index}: ${g.name}`).join(', ');
    return {
      requested,
      chosen: 'cuda',
      reason: `auto: ${host.gpus.length} NVIDIA GPU(s) (${names}) and a complete CUDA toolkit`,
      cudaArchitectures: architectures,
      findings: archFindings,
    };
  }
  return {
    requested,
    chosen: 'cpu',
    reason: `auto: building for CPU because ${gaps.map((g) => g.message).join('; ')}`,
    cudaArchitectures: [],
    findings: gaps,
  };
}
