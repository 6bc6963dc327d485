import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Handoff } from '@llama-orch/contracts';

/** An engine's handoff file (its pid, url), from the directory pool-managerd's start line says it watches. */
export async function engineHandoff(poolManagerdOutput: string, file: string): Promise<Handoff> {
  const line = poolManagerdOutput.split('\n').find((l) => l.includes('"pool-managerd listening"')) ?? '{}';
  const dir = (JSON.parse(line) as { handoff_dir?: string }).handoff_dir;
  assert.ok(dir, 'pool-managerd names its handoff directory');
  return JSON.parse(await readFile(join(dir, file), 'utf8')) as Handoff;
}
