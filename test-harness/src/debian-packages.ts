/**
 * Commands a test needs from a Debian package, installed once per machine when missing: as root,
 * `apt-get update && apt-get install -y <package>`, non-interactive; test files that need the same package at once
 * wait on a lock directory while one installs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { waitFor } from './processes.ts';

const INSTALL_BUDGET_MS = 15 * 60_000;

/** The first `name` on PATH, or null. */
export function onPath(name: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const path = join(dir, name);
    if (dir !== '' && existsSync(path)) return path;
  }
  return null;
}

function run(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: INSTALL_BUDGET_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.status !== 0)
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${String(result.status)}`}):\n${result.stderr}`,
    );
}

/** The paths of `commands` (in their order), installing the Debian package `pkg` first when one is missing. */
export async function commandsFrom(pkg: string, commands: readonly string[]): Promise<string[]> {
  const found = (): string[] | undefined => {
    const paths = commands.map(onPath);
    return paths.every((p) => p !== null) ? paths : undefined;
  };
  const present = found();
  if (present !== undefined) return present;
  if (process.getuid?.() !== 0)
    throw new Error(`${commands.join('/')} not found and this is not root: run \`apt-get install -y ${pkg}\``);
  const lock = join(tmpdir(), `llorch-${pkg}-install.lock`);
  await waitFor(
    `the ${pkg} install lock`,
    () =>
      mkdir(lock).then(
        () => true,
        () => (found() !== undefined ? true : undefined),
      ),
    INSTALL_BUDGET_MS,
    500,
  );
  try {
    if (found() === undefined) {
      process.stderr.write(`# installing the Debian package ${pkg} (once per machine)\n`);
      run('apt-get', ['update']);
      run('apt-get', ['install', '-y', pkg]);
    }
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
  const installed = found();
  if (installed === undefined) throw new Error(`apt-get installed ${pkg}, but ${commands.join('/')} are not on PATH`);
  return installed;
}
