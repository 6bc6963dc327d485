import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A fake `nvidia-smi` (two GPUs) and a fake CUDA toolkit root with `nvcc`, optionally with cuBLAS, in `dir`.
 * Tests put `<dir>/bin` first on PATH; nothing here is ever executed as CUDA.
 */
export async function fakeGpuHost(
  dir: string,
  options: { cublas: boolean },
): Promise<{ path: string; cudaRoot: string }> {
  const bin = join(dir, 'bin');
  const cudaRoot = join(dir, 'cuda');
  await mkdir(bin, { recursive: true });
  await mkdir(join(cudaRoot, 'bin'), { recursive: true });
  await writeFile(
    join(bin, 'nvidia-smi'),
    `#!/bin/sh
echo "0, GPU-0000, NVIDIA GeForce RTX 3090, 24576, 1024, 23552, 8.6"
echo "1, GPU-1111, NVIDIA GeForce RTX 4090, 24564, 512, 24052, 8.9"
`,
  );
  await writeFile(
    join(cudaRoot, 'bin', 'nvcc'),
    `#!/bin/sh
case "$*" in
  *-dryrun*) echo "#\\$ TOP=${cudaRoot}/bin/.." >&2 ;;
  *) echo "nvcc: NVIDIA (R) Cuda compiler driver"; echo "Cuda compilation tools, release 12.6, V12.6.77" ;;
esac
`,
  );
  await writeFile(join(bin, 'nvcc'), `#!/bin/sh\nexec ${cudaRoot}/bin/nvcc "$@"\n`);
  for (const file of [join(bin, 'nvidia-smi'), join(bin, 'nvcc'), join(cudaRoot, 'bin', 'nvcc')])
    await chmod(file, 0o755);
  if (options.cublas) {
    await mkdir(join(cudaRoot, 'lib64'), { recursive: true });
    await writeFile(join(cudaRoot, 'lib64', 'libcublas.so.12'), '');
  }
  return { path: `${bin}:${process.env['PATH'] ?? ''}`, cudaRoot };
}
