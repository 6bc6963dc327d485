import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { EngineSource } from '@llama-orch/contracts';

export type ProvisioningMode = 'npm' | 'git' | 'path' | 'binary';

/** Where a source lives in the cache and the exact commands that fetch it. */
export interface SourceLayout {
  readonly mode: ProvisioningMode;
  /** Stable name of the source (enters the build directory name). */
  readonly identity: string;
  /** llama.cpp source tree; null for a prebuilt binary. */
  readonly sourceDir: string | null;
  /** Commands run, in order, when sourceDir does not exist yet; `{tmp}` is the fetch's scratch directory. */
  readonly fetch: readonly (readonly string[])[];
  /** The prebuilt llama-server of a binary source. */
  readonly binary: string | null;
}

export const shortHash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

export function sourceLayout(source: EngineSource, cacheDir: string): SourceLayout {
  const sources = join(cacheDir, 'sources');
  switch (source.kind) {
    case 'npm': {
      const name = `${source.package}-${source.version}`;
      const dir = join(sources, name);
      return {
        mode: 'npm',
        identity: `npm:${source.package}@${source.version}`,
        sourceDir: dir,
        binary: null,
        fetch: [
          ['npm', 'pack', `${source.package}@${source.version}`, '--pack-destination', '{tmp}', '--silent'],
          ['tar', '-xzf', `{tmp}/${name}.tgz`, '-C', '{tmp}', 'package/llama/gitRelease.bundle'],
          ['git', 'clone', '--quiet', '{tmp}/package/llama/gitRelease.bundle', '{tmp}/src'],
        ],
      };
    }
    case 'git': {
      const safeRef = source.ref.replace(/[^A-Za-z0-9._-]/g, '_');
      const dir = join(sources, `git-${shortHash(source.url)}-${safeRef}`);
      return {
        mode: 'git',
        identity: `git:${source.url}#${source.ref}`,
        sourceDir: dir,
        binary: null,
        fetch: [
          ['git', 'clone', '--quiet', source.url, '{tmp}/src'],
          ['git', '-C', '{tmp}/src', 'checkout', '--quiet', '--detach', source.ref],
        ],
      };
    }
    case 'path':
      return { mode: 'path', identity: `path:${source.dir}`, sourceDir: source.dir, binary: null, fetch: [] };
    case 'binary':
      return { mode: 'binary', identity: `binary:${source.path}`, sourceDir: null, binary: source.path, fetch: [] };
  }
}
