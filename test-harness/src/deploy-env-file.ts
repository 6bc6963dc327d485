/** The bare-metal env files in deploy/env (systemd EnvironmentFile=), read as {@link ContainerSettings}. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_FILES, REPO_ROOT, type Component, type ContainerSettings, type Read } from './deploy-settings.ts';

/** `NAME=value` lines; blank lines and `#` comments skipped; one pair of surrounding quotes removed. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(line);
    if (match === null || line.trim().startsWith('#')) continue;
    const value = (match[2] ?? '').trim();
    env[match[1] ?? ''] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return env;
}

export function envFileSettings(component: Component): Read<ContainerSettings> {
  const file = ENV_FILES[component];
  const path = join(REPO_ROOT, file);
  if (!existsSync(path)) return { ok: false, message: `${file} does not exist` };
  return {
    ok: true,
    value: {
      component,
      artifact: file,
      kind: 'env-file',
      where: file,
      image: null,
      command: null,
      env: parseEnvFile(readFileSync(path, 'utf8')),
      envWithoutValue: [],
      ports: [],
      probes: [],
      mounts: [],
    },
  };
}
