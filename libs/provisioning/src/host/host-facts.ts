import { access, readFile, readdir, realpath } from 'node:fs/promises';
import { constants } from 'node:fs';
import { cpus } from 'node:os';
import { delimiter, dirname, join, normalize } from 'node:path';
import { tryExec } from '../exec.ts';
import { NVIDIA_SMI_QUERY, parseNvidiaSmi, type GpuInfo } from './nvidia-smi.ts';

export interface ToolInfo {
  readonly path: string;
  readonly version: string;
}

export interface CudaToolkit {
  readonly nvcc: ToolInfo | null;
  /** The toolkit root (parent of bin/nvcc). */
  readonly root: string | null;
  /** Path of libcublas found under the root, or null: nvcc alone cannot build llama.cpp's CUDA backend. */
  readonly cublas: string | null;
}

/** What this machine has, as far as building and running llama.cpp is concerned. */
export interface HostFacts {
  readonly cpuCount: number;
  readonly cmake: ToolInfo | null;
  readonly ninja: ToolInfo | null;
  readonly git: ToolInfo | null;
  readonly cc: ToolInfo | null;
  readonly cxx: ToolInfo | null;
  readonly npm: ToolInfo | null;
  readonly tar: ToolInfo | null;
  readonly gpus: readonly GpuInfo[];
  /** Why nvidia-smi gave no GPUs (absent, failed), or null when it listed some. */
  readonly gpuProbe: string | null;
  readonly cuda: CudaToolkit;
}

async function which(name: string, path: string): Promise<string | null> {
  if (name.includes('/')) {
    return access(name, constants.X_OK).then(
      () => name,
      () => null,
    );
  }
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const firstLine = (lines: string[]): string | undefined => lines.find((l) => l.trim() !== '');

async function tool(names: readonly string[], path: string, pick = firstLine): Promise<ToolInfo | null> {
  for (const name of names) {
    const found = await which(name, path);
    if (found === null) continue;
    const run = await tryExec(found, ['--version']);
    const line = pick(`${run?.stdout ?? ''}${run?.stderr ?? ''}`.split('\n')) ?? 'unknown';
    return { path: found, version: line.trim() };
  }
  return null;
}

/**
 * npm, its version read from the package it runs from: `npm --version` starts a Node process (0.36 s here, a fifth
 * of a cached start of the HOME profile) to print what its package.json says. 'unknown' when that file is not there.
 */
async function npmTool(path: string): Promise<ToolInfo | null> {
  const found = await which('npm', path);
  if (found === null) return null;
  try {
    const manifest = join(dirname(await realpath(found)), '..', 'package.json');
    const { name, version } = JSON.parse(await readFile(manifest, 'utf8')) as { name?: unknown; version?: unknown };
    return { path: found, version: name === 'npm' && typeof version === 'string' ? version : 'unknown' };
  } catch {
    return { path: found, version: 'unknown' };
  }
}

async function findCublas(root: string): Promise<string | null> {
  const dirs = ['lib64', 'lib', 'targets/x86_64-linux/lib', 'targets/sbsa-linux/lib', 'targets/aarch64-linux/lib'];
  for (const dir of dirs) {
    const entries = await readdir(join(root, dir)).catch(() => [] as string[]);
    const lib = entries.find((e) => /^libcublas\.so(\.\d+)*$/.test(e));
    if (lib !== undefined) return join(root, dir, lib);
  }
  return null;
}

/** The toolkit root as nvcc itself reports it (nvcc is often a wrapper script or a symlink). */
async function nvccRoot(nvcc: string): Promise<string> {
  const run = await tryExec(nvcc, ['-dryrun', '-x', 'cu', '-c', '/dev/null', '-o', '/dev/null']);
  const top = /^#\$ TOP=(.+)$/m.exec(`${run?.stdout ?? ''}${run?.stderr ?? ''}`)?.[1];
  return top === undefined ? dirname(dirname(await realpath(nvcc))) : normalize(top.trim());
}

async function cudaToolkit(path: string): Promise<CudaToolkit> {
  const candidates = ['/usr/local/cuda/bin', '/opt/cuda/bin'];
  const nvcc = await tool(['nvcc'], [path, ...candidates].join(delimiter), (lines) =>
    lines.find((l) => l.includes('release')),
  );
  if (nvcc === null) return { nvcc: null, root: null, cublas: null };
  const root = await nvccRoot(nvcc.path);
  return { nvcc, root, cublas: await findCublas(root) };
}

async function gpus(path: string): Promise<{ gpus: GpuInfo[]; probe: string | null }> {
  const smi = await which('nvidia-smi', path);
  if (smi === null) return { gpus: [], probe: 'nvidia-smi not found on PATH' };
  const run = await tryExec(smi, NVIDIA_SMI_QUERY);
  if (run === null || run.code !== 0)
    return { gpus: [], probe: `nvidia-smi failed: ${(run?.stderr ?? '').trim() || 'no output'}` };
  const list = parseNvidiaSmi(run.stdout);
  return { gpus: list, probe: list.length === 0 ? 'nvidia-smi listed no GPU' : null };
}

/** Probe the machine. `env` is the environment the probe runs in (PATH, CC, CXX). */
export async function detectHostFacts(env: NodeJS.ProcessEnv): Promise<HostFacts> {
  const path = env['PATH'] ?? '';
  const ccNames = env['CC'] !== undefined ? [env['CC']] : ['cc', 'gcc', 'clang'];
  const cxxNames = env['CXX'] !== undefined ? [env['CXX']] : ['c++', 'g++', 'clang++'];
  const [cmake, ninja, git, cc, cxx, npm, tar, gpu, cuda] = await Promise.all([
    tool(['cmake'], path),
    tool(['ninja'], path),
    tool(['git'], path),
    tool(ccNames, path),
    tool(cxxNames, path),
    npmTool(path),
    tool(['tar'], path),
    gpus(path),
    cudaToolkit(path),
  ]);
  return { cpuCount: cpus().length, cmake, ninja, git, cc, cxx, npm, tar, gpus: gpu.gpus, gpuProbe: gpu.probe, cuda };
}
