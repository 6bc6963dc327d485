import { isAbsolute, join, resolve } from 'node:path';
import type { NodeConfig, PoolConfig } from '@llama-orch/contracts';

/** The config with every default filled in and every path absolute. */
export interface ResolvedNodeConfig extends Omit<NodeConfig, 'node_id' | 'runtime_dir' | 'cache_dir' | 'pools'> {
  readonly node_id: string;
  readonly runtime_dir: string;
  readonly cache_dir: string;
  readonly pools: readonly PoolConfig[];
}

export interface ResolveContext {
  /** Directory that relative paths in the file are taken against (the config file's own directory). */
  readonly baseDir: string;
  readonly homeDir: string;
  readonly hostname: string;
}

function absolute(path: string, ctx: ResolveContext): string {
  if (path === '~') return ctx.homeDir;
  if (path.startsWith('~/')) return join(ctx.homeDir, path.slice(2));
  return isAbsolute(path) ? path : resolve(ctx.baseDir, path);
}

/** A hostname made into a valid node id: lower-case, other characters as "-", at most 63 long. */
export function nodeIdFromHostname(hostname: string): string {
  const id = hostname
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return id === '' ? 'node' : id;
}

export function resolveNodeConfig(config: NodeConfig, ctx: ResolveContext): ResolvedNodeConfig {
  const cacheDir = absolute(config.cache_dir ?? '~/.cache/llama-orch', ctx);
  return Object.freeze({
    ...config,
    node_id: config.node_id ?? nodeIdFromHostname(ctx.hostname),
    cache_dir: cacheDir,
    runtime_dir: absolute(config.runtime_dir ?? '~/.local/state/llama-orch', ctx),
    engine: Object.freeze({ ...config.engine }),
    pools: Object.freeze(
      config.pools.map((pool) =>
        Object.freeze(
          pool.model.startsWith('file:')
            ? { ...pool, model: `file:${absolute(pool.model.slice('file:'.length), ctx)}` }
            : pool,
        ),
      ),
    ),
  });
}
