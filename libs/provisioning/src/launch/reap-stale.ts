import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HandoffSchema, validate } from '@llama-orch/contracts';
import type { Logger } from '../logger.ts';

function parseJson(text: string | null): unknown {
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function isLlamaServer(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0')[0]?.endsWith('llama-server') ?? false;
}

/**
 * Engines left by a provisioner that was killed (SIGKILL leaves its children running): for each handoff of
 * the given pools whose pid is still a llama-server, stop that process, then remove the stale handoff.
 */
export async function reapStaleEngines(
  handoffDir: string,
  poolIds: readonly string[],
  logger: Logger,
): Promise<number> {
  const names = await readdir(handoffDir).catch(() => [] as string[]);
  let reaped = 0;
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const text = await readFile(join(handoffDir, name), 'utf8').catch(() => null);
    const handoff = validate(HandoffSchema, parseJson(text));
    if (!handoff.ok || !poolIds.includes(handoff.value.pool_id)) continue;
    const { pid } = handoff.value;
    if (alive(pid) && (await isLlamaServer(pid))) {
      logger.warn({ pool_id: handoff.value.pool_id, pid }, 'stopping an engine left by an earlier run');
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 50 && alive(pid); i += 1) await sleep(100);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      reaped += 1;
    }
    await rm(join(handoffDir, name), { force: true });
  }
  return reaped;
}
