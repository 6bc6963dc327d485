import { spawnSync } from 'node:child_process';

/** A unit file as systemd reads it, as far as the deployment tests need: each setting's values by section. */
export interface UnitFile {
  /** Every value of a setting, in file order; an empty assignment clears those before it (systemd's rule for lists). */
  values(section: string, key: string): readonly string[];
  /** The last value of a setting; undefined when it is not set. */
  value(section: string, key: string): string | undefined;
  /** The whitespace-separated words of every value of a setting (After=, ReadWritePaths=, StateDirectory=, …). */
  words(section: string, key: string): readonly string[];
}

/** Parse a unit file: `[Section]` headers, `Key=value` lines, `#`/`;` comments. Anything else is an error. */
export function parseUnit(text: string, name: string): UnitFile {
  const settings = new Map<string, string[]>();
  let section: string | null = null;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header !== null) {
      section = header[1] ?? null;
      return;
    }
    const setting = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (setting === null || section === null || line.endsWith('\\'))
      throw new Error(`${name}:${index + 1}: not a setting in a section: ${raw}`);
    const key = `${section}.${setting[1] ?? ''}`;
    const value = (setting[2] ?? '').trim();
    settings.set(key, value === '' ? [] : [...(settings.get(key) ?? []), value]);
  });
  const values = (s: string, key: string): readonly string[] => settings.get(`${s}.${key}`) ?? [];
  return {
    values,
    value: (s, key) => values(s, key).at(-1),
    words: (s, key) => values(s, key).flatMap((v) => v.split(/\s+/)),
  };
}

/**
 * Parse an env file in the plain form every deployment tool reads alike (systemd's EnvironmentFile=, docker's
 * --env-file): `NAME=value` lines and `#` comments; no quotes, no `export`, no spaces around `=`.
 */
export function parseEnvFile(text: string, name: string): ReadonlyMap<string, string> {
  const vars = new Map<string, string>();
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const match = /^([A-Z][A-Z0-9_]*)=([^\s"'`$\\][^"'`$\\]*[^\s"'`$\\]|[^\s"'`$\\])$/.exec(line);
    if (match === null) throw new Error(`${name}:${index + 1}: not a plain NAME=value line: ${line}`);
    const [, key = '', value = ''] = match;
    if (vars.has(key)) throw new Error(`${name}:${index + 1}: ${key} is set twice`);
    vars.set(key, value);
  });
  return vars;
}

/** A systemd time span (`40s`, `1min 30s`, `500ms`, a bare number of seconds) in milliseconds. */
export function timeSpanMs(span: string): number {
  const unitMs: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };
  return span
    .trim()
    .split(/\s+/)
    .reduce((total, part) => {
      const match = /^(\d+(?:\.\d+)?)(ms|s|sec|m|min|h)?$/.exec(part);
      if (match === null) throw new Error(`not a time span: ${span}`);
      return total + Number(match[1]) * (unitMs[match[2] ?? 's'] ?? 1000);
    }, 0);
}

const works = (command: string): boolean => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * Make sure systemd-analyze and systemd-sysusers are on PATH: where they are missing and this process is root, the
 * Debian package `systemd` is installed (it runs without systemd as PID 1). False when they cannot be had.
 */
export function systemdTools(): boolean {
  const present = (): boolean => works('systemd-analyze') && works('systemd-sysusers');
  if (present()) return true;
  if (process.getuid?.() !== 0 || !works('apt-get')) return false;
  const apt = (...args: string[]): void => {
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', '-y', '-q', ...args], { stdio: 'ignore', timeout: 600_000 });
  };
  process.stderr.write('# installing the Debian package systemd (systemd-analyze, systemd-sysusers)\n');
  apt('install', 'systemd');
  if (!present()) {
    apt('update');
    apt('install', 'systemd');
  }
  return present();
}
