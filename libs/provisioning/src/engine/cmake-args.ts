import type { HostFacts } from '../host/host-facts.ts';
import type { DeviceChoice } from '../plan/device.ts';

export interface CmakeOptions {
  readonly device: DeviceChoice;
  readonly curl: boolean;
  readonly host: HostFacts;
}

/**
 * The -D flags that decide what llama-server is: they enter the cache key. Static, no tests/examples/UI,
 * nothing fetched at build time.
 */
export function cmakeDefines(options: CmakeOptions): string[] {
  const defines = [
    '-DCMAKE_BUILD_TYPE=Release',
    '-DBUILD_SHARED_LIBS=OFF',
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=OFF',
    '-DLLAMA_BUILD_UI=OFF',
    '-DLLAMA_USE_PREBUILT_UI=OFF',
    `-DLLAMA_CURL=${options.curl ? 'ON' : 'OFF'}`,
    `-DLLAMA_OPENSSL=${options.curl ? 'ON' : 'OFF'}`,
  ];
  if (options.device.chosen === 'cuda') {
    defines.push('-DGGML_CUDA=ON');
    if (options.device.cudaArchitectures.length > 0) {
      defines.push(`-DCMAKE_CUDA_ARCHITECTURES=${options.device.cudaArchitectures.join(';')}`);
    }
  }
  return defines;
}

/** Compiler choices: passed explicitly so that the compiler in the cache key is the one CMake uses. */
export function compilerDefines(host: HostFacts, device: DeviceChoice): string[] {
  const defines: string[] = [];
  if (host.cc) defines.push(`-DCMAKE_C_COMPILER=${host.cc.path}`);
  if (host.cxx) defines.push(`-DCMAKE_CXX_COMPILER=${host.cxx.path}`);
  if (device.chosen === 'cuda' && host.cuda.nvcc) defines.push(`-DCMAKE_CUDA_COMPILER=${host.cuda.nvcc.path}`);
  return defines;
}

export function configureCommand(sourceDir: string, buildDir: string, options: CmakeOptions): string[] {
  const generator = options.host.ninja ? ['-G', 'Ninja'] : [];
  return [
    'cmake',
    '-S',
    sourceDir,
    '-B',
    buildDir,
    ...generator,
    ...cmakeDefines(options),
    ...compilerDefines(options.host, options.device),
  ];
}

export function buildCommand(buildDir: string, jobs: number): string[] {
  return ['cmake', '--build', buildDir, '--config', 'Release', '--target', 'llama-server', '-j', String(jobs)];
}
