import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { z } from 'zod';

/**
 * What a running `llorch home` tells the other commands about itself: `<state dir>/home.json`, written once it is
 * ready and removed when it stops. Its lock (`<state dir>/llorch-home`) says whether the tree still runs.
 */
const HomeRecordSchema = z.object({ url: z.url({ protocol: /^https?$/ }), pid: z.int() });
export type HomeRecord = z.infer<typeof HomeRecordSchema>;

export const homeMarker = (stateDir: string): string => join(stateDir, 'llorch-home');
const recordFile = (stateDir: string): string => join(stateDir, 'home.json');

/** The lock's options, shared by the holder and the readers. */
export const HOME_LOCK = { stale: 10_000 } as const;

export async function writeHomeRecord(stateDir: string, record: HomeRecord): Promise<void> {
  await writeFile(recordFile(stateDir), `${JSON.stringify(record)}\n`);
}

export async function removeHomeRecord(stateDir: string): Promise<void> {
  await rm(recordFile(stateDir), { force: true });
}

/** The URL of the HOME tree running for this state directory, or null when none runs (or none is ready yet). */
export function runningHomeUrl(stateDir: string): string | null {
  try {
    if (!lockfile.checkSync(homeMarker(stateDir), HOME_LOCK)) return null;
    const parsed = HomeRecordSchema.safeParse(JSON.parse(readFileSync(recordFile(stateDir), 'utf8')));
    return parsed.success ? parsed.data.url : null;
  } catch {
    return null;
  }
}
