import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HandoffSchema, validate, type Handoff } from '@llama-orch/contracts';
import { startProcess, type RunningProcess } from './processes.ts';

export const PROVISIONER_CLI = fileURLToPath(
  new URL('../../bin/engine-provisioner/bin/engine-provisioner.js', import.meta.url),
);

/** A temporary node: its config file and runtime directory, removed by `cleanup`. */
export interface TempNode {
  readonly dir: string;
  readonly configFile: string;
  readonly handoffDir: string;
  readonly cleanup: () => Promise<void>;
}

export async function tempNode(configYaml: (dir: string) => string): Promise<TempNode> {
  const dir = await mkdtemp(join(tmpdir(), 'llorch-node-'));
  const configFile = join(dir, 'node.yaml');
  await writeFile(configFile, configYaml(dir));
  return {
    dir,
    configFile,
    handoffDir: join(dir, 'run', 'engines'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export function runProvisioner(args: readonly string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  return startProcess(process.execPath, [PROVISIONER_CLI, ...args], { ...process.env, ...env });
}

/** The handoff file as written, validated; undefined while absent or unreadable. */
export async function readHandoff(path: string): Promise<Handoff | undefined> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return undefined;
  const checked = validate(HandoffSchema, JSON.parse(text));
  if (!checked.ok) throw new Error(`invalid handoff ${path}: ${checked.message}`);
  return checked.value;
}

/** The handoff files (*.json) in a directory, sorted; none when the directory does not exist. */
export async function handoffsIn(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => name.endsWith('.json')).sort();
}
