import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { handoffFileName, HandoffSchema, validate, type Handoff } from '@llama-orch/contracts';

/** Write a handoff atomically: a dot-named temp file in the same directory, then rename over the target. */
export async function writeHandoff(dir: string, handoff: Handoff): Promise<string> {
  const checked = validate(HandoffSchema, handoff);
  if (!checked.ok) throw new Error(`refusing to write an invalid handoff: ${checked.message}`);
  await mkdir(dir, { recursive: true });
  const name = handoffFileName(handoff.pool_id, handoff.replica_id);
  const target = join(dir, name);
  const tmp = join(dir, `.${name}.tmp-${process.pid}`);
  await writeFile(tmp, `${JSON.stringify(handoff, null, 2)}\n`);
  await rename(tmp, target);
  return target;
}

export async function removeHandoff(dir: string, poolId: string, replicaId: string): Promise<void> {
  await rm(join(dir, handoffFileName(poolId, replicaId)), { force: true });
}
