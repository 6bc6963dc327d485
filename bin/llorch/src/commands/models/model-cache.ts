import { homedir } from 'node:os';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { loadNodeConfig, type ResolvedNodeConfig } from '@llama-orch/config';
import type { CommandEnv } from '../command-env.ts';

/** The node config a command reads (when one is named) and the cache directory `llorch home` would use with it. */
export interface CacheSetup {
  readonly config: ResolvedNodeConfig | null;
  readonly configFile: string | null;
  /** ENGINE_PROVISIONER_CACHE_DIR, else the config's cache_dir, else ~/.cache/llama-orch — as pool-managerd decides. */
  readonly cacheDir: string;
}

export async function cacheSetup(
  env: CommandEnv,
  configFile: string | undefined,
): Promise<{ ok: true; value: CacheSetup } | { ok: false; message: string }> {
  let config: ResolvedNodeConfig | null = null;
  if (configFile !== undefined) {
    const loaded = await loadNodeConfig(configFile);
    if (!loaded.ok) return { ok: false, message: loaded.message };
    config = loaded.value;
  }
  const cacheDir = env.cacheDirOverride ?? config?.cache_dir ?? join(homedir(), '.cache', 'llama-orch');
  return { ok: true, value: { config, configFile: configFile ?? null, cacheDir } };
}

/** A model file in the cache, with the reference it was fetched by where its place in the cache tells it. */
export interface CachedModel {
  readonly file: string;
  readonly sizeBytes: number;
  /** `hf:<org>/<repo>/<file>` or `demo`; null for a file fetched from an https:// URL (its name is hashed). */
  readonly ref: string | null;
}

/** The reference a cache path stands for (see modelLocation in libs/provisioning). */
function refOf(modelsDir: string, file: string): string | null {
  const parts = relative(modelsDir, file).split(sep);
  if (parts[0] === 'hf' && parts.length >= 4) return `hf:${parts.slice(1).join('/')}`;
  if (parts.length === 1 && /^demo-(v\d+-)?[0-9a-f]+-s\d+\.gguf$/.test(parts[0] ?? '')) return 'demo';
  return null;
}

async function* ggufFiles(dir: string): AsyncGenerator<string> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* ggufFiles(path);
    else if (entry.isFile() && entry.name.toLowerCase().endsWith('.gguf')) yield path;
  }
}

/** Every complete model in `<cache>/models` (downloads in progress end in `.partial` and are not listed). */
export async function cachedModels(cacheDir: string): Promise<CachedModel[]> {
  const modelsDir = join(cacheDir, 'models');
  const found: CachedModel[] = [];
  for await (const file of ggufFiles(modelsDir)) {
    const info = await stat(file).catch(() => null);
    if (info !== null) found.push({ file, sizeBytes: info.size, ref: refOf(modelsDir, file) });
  }
  return found;
}

/** Bytes as a person reads them: `4.8 MiB`. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit] ?? 'B'}`;
}

/** `~/…` for paths under the home directory. */
export function tildePath(path: string): string {
  const home = homedir();
  return path === home || path.startsWith(`${home}${sep}`) ? `~${path.slice(home.length)}` : path;
}
