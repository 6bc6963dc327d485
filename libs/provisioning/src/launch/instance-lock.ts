import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { ProvisioningError } from '../errors.ts';

/** Another provisioner already manages this handoff directory. */
export class HandoffDirBusyError extends ProvisioningError {
  constructor(dir: string) {
    super(
      'PROV_HANDOFF_DIR_BUSY',
      `another engine-provisioner is running for ${dir}; stop it first (its engines and handoffs are its own)`,
    );
    this.name = 'HandoffDirBusyError';
  }
}

/**
 * One provisioner per handoff directory, for its whole life: a second one fails at once instead of fighting
 * over engines and files. The lock goes stale 10 s after its holder dies, so a restart after kill -9 waits.
 */
export async function claimHandoffDir(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const marker = join(dir, '.provisioner');
  await writeFile(marker, '', { flag: 'a' });
  try {
    return await lockfile.lock(marker, {
      // A lost lock (the directory removed under us) must not crash the process and orphan its engines.
      onCompromised: () => undefined,
      stale: 10_000,
      update: 2_000,
      retries: { retries: 12, minTimeout: 1000, maxTimeout: 1000 },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw new HandoffDirBusyError(dir);
    throw error;
  }
}
