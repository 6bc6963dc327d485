import { link, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { handoffFileName, HandoffSchema, validate, type Handoff } from '@llama-orch/contracts';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { engineRequest } from '../engines/engine-agent.ts';

/** What one reap did: deleted the file, kept it (its engine answers, or a newer handoff replaced it), or found none. */
export type ReapOutcome = 'deleted' | 'kept' | 'absent';

const sameEngine = (a: Handoff, b: Handoff): boolean => a.pid === b.pid && a.url === b.url;

/**
 * POOL_MANAGERD_AUTO_DELETE_HANDOFF: deletes the handoff of an engine that is gone, after the registry has marked
 * its replica offline; the watcher then sees the unlink and drops the replica. Gone means its process no longer runs
 * and its URL does not answer (a pid seen from another PID namespace alone deletes nothing). The file is deleted only
 * while it still names that engine: it is renamed aside first (atomic; a dot name the watcher ignores), checked, and
 * put back when a provisioner wrote a new handoff in the meantime — never over a newer file.
 */
export class HandoffReaper {
  readonly #dir: string;
  readonly #agent: Dispatcher;
  readonly #log: Logger;
  readonly #busy = new Set<string>();

  constructor(dir: string, agent: Dispatcher, log: Logger) {
    this.#dir = dir;
    this.#agent = agent;
    this.#log = log;
  }

  /** Never rejects: a file-system failure is logged and the handoff kept (the next health check tries again). */
  async reap(gone: Handoff): Promise<ReapOutcome> {
    const name = handoffFileName(gone.pool_id, gone.replica_id);
    if (this.#busy.has(name)) return 'kept';
    this.#busy.add(name);
    try {
      return await this.#reap(gone, name);
    } catch (error) {
      this.#log.warn({ err: error, pool_id: gone.pool_id, replica_id: gone.replica_id }, 'handoff not deleted');
      return 'kept';
    } finally {
      this.#busy.delete(name);
    }
  }

  async #reap(gone: Handoff, name: string): Promise<ReapOutcome> {
    const log = this.#log.child({ pool_id: gone.pool_id, replica_id: gone.replica_id, pid: gone.pid });
    if (await this.#answers(gone.url)) {
      log.warn({ url: gone.url }, 'engine pid not seen but its URL answers; handoff kept');
      return 'kept';
    }
    const file = join(this.#dir, name);
    const aside = join(this.#dir, `.${name}.reaping`);
    try {
      await rename(file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
      throw error;
    }
    const text = await readFile(aside, 'utf8').catch(() => '');
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not a handoff any more: put back below, the watcher judges it
    }
    const found = validate(HandoffSchema, json);
    if (found.ok && sameEngine(found.value, gone)) {
      await unlink(aside);
      log.info({ file }, 'engine gone: handoff deleted (POOL_MANAGERD_AUTO_DELETE_HANDOFF)');
      return 'deleted';
    }
    // A newer handoff landed between the health check and the rename: it stays (unless an even newer one exists).
    await link(aside, file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await unlink(aside);
    return 'kept';
  }

  async #answers(url: string): Promise<boolean> {
    try {
      const answer = await engineRequest(this.#agent, `${url}/health`, { method: 'GET', timeoutMs: 1_000 });
      await answer.body.dump();
      return true;
    } catch {
      return false;
    }
  }
}
