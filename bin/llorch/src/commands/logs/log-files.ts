import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export const DAEMONS = ['orchestratord', 'pool-managerd'] as const;
export type DaemonName = (typeof DAEMONS)[number];

/** One log as `llorch home` writes it: the current file, beside its rotated predecessors `<file>.1`, `.2`, … */
export type LogSource =
  | { readonly kind: 'daemon'; readonly name: DaemonName; readonly file: string }
  | {
      readonly kind: 'engine';
      readonly name: string;
      readonly pool: string;
      readonly replica: string;
      readonly file: string;
    };

/** `<state dir>/logs`: where the HOME tree of a state directory writes its logs. */
export const logsDir = (stateDir: string): string => join(stateDir, 'logs');

/** `engine-<pool>-<replica>.log`; a replica id is `r<n>`, or `g<generation>-r<n>` after a reload. */
const ENGINE_LOG = /^engine-([a-z0-9][a-z0-9-]*?)-((?:g\d+-)?r\d+)\.log$/;

/** The logs in a logs directory (current files only; none when the directory does not exist). */
export async function listSources(dir: string): Promise<LogSource[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const sources: LogSource[] = [];
  for (const daemon of DAEMONS)
    if (names.includes(`${daemon}.log`))
      sources.push({ kind: 'daemon', name: daemon, file: join(dir, `${daemon}.log`) });
  for (const name of names.sort()) {
    const match = ENGINE_LOG.exec(name);
    if (match?.[1] !== undefined && match[2] !== undefined)
      sources.push({
        kind: 'engine',
        name: `${match[1]}/${match[2]}`,
        pool: match[1],
        replica: match[2],
        file: join(dir, name),
      });
  }
  return sources;
}

/** The rotated predecessors of a log that exist, oldest first (`.3`, `.2`, `.1`): the order their lines were written. */
export async function rotatedFiles(file: string): Promise<string[]> {
  const dir = join(file, '..');
  const base = file.slice(dir.length + 1);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .map((name) => ({ name, n: name.startsWith(`${base}.`) ? Number(name.slice(base.length + 1)) : NaN }))
    .filter((f) => Number.isInteger(f.n) && f.n >= 1)
    .sort((a, b) => b.n - a.n)
    .map((f) => join(dir, f.name));
}
