/** One GPU as nvidia-smi reports it. */
export interface GpuInfo {
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  readonly memoryTotalBytes: number;
  readonly memoryUsedBytes: number;
  readonly memoryFreeBytes: number;
  /** e.g. "8.6"; null when the driver does not report it. */
  readonly computeCapability: string | null;
}

/** The query every component uses, so that a fake nvidia-smi in tests answers all of them. */
export const NVIDIA_SMI_QUERY = [
  '--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,compute_cap',
  '--format=csv,noheader,nounits',
];

const MIB = 1024 * 1024;

/** Parse `nvidia-smi --query-gpu=… --format=csv,noheader,nounits` output; unparsable lines are skipped. */
export function parseNvidiaSmi(csv: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of csv.split('\n')) {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length < 6) continue;
    const [index, uuid, name, total, used, free, cc] = cells;
    const numbers = [index, total, used, free].map(Number);
    if (numbers.some((n) => !Number.isFinite(n))) continue;
    const [i, t, u, f] = numbers as [number, number, number, number];
    gpus.push({
      index: i,
      uuid: uuid ?? '',
      name: name ?? '',
      memoryTotalBytes: t * MIB,
      memoryUsedBytes: u * MIB,
      memoryFreeBytes: f * MIB,
      computeCapability: cc !== undefined && /^\d+\.\d+$/.test(cc) ? cc : null,
    });
  }
  return gpus;
}

/** "8.6" → "86": the CMAKE_CUDA_ARCHITECTURES spelling. */
export function cudaArchitectureOf(computeCapability: string): string {
  return computeCapability.replace('.', '');
}
