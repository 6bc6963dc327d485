import { readFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Validated } from '@llama-orch/contracts';
import { parseNodeConfig } from './parse-node-config.ts';
import { resolveNodeConfig, type ResolvedNodeConfig } from './resolve-node-config.ts';

/** Read, validate and resolve the config file; a missing or unreadable file is a value, not a throw. */
export async function loadNodeConfig(file: string): Promise<Validated<ResolvedNodeConfig>> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    const issue = { path: '(file)', message: reason };
    return { ok: false, issues: [issue], message: `${path}: ${reason}` };
  }
  const parsed = parseNodeConfig(text, path);
  if (!parsed.ok) return parsed;
  return {
    ok: true,
    value: resolveNodeConfig(parsed.value, { baseDir: dirname(path), homeDir: homedir(), hostname: hostname() }),
  };
}
