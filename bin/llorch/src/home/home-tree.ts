import type { StopUrgency } from '@llama-orch/lifecycle';
import type { Daemon } from './daemon.ts';

/** How long each daemon may take to stop gracefully before its group is killed (its own limit is 30 s). */
export const STOP_GRACE_MS = { orchestratord: 10_000, 'pool-managerd': 35_000 } as const;
/** What a second signal leaves of that. */
export const HURRY_MS = 5_000;

/**
 * The daemons of one `llorch home`, stopped as one: the last started first (orchestratord ends its streams with a
 * terminal event, then pool-managerd stops its engines). There is one graceful stop; `hurry` sends each daemon still
 * running a second SIGTERM (which shortens its own grace) and shortens the deadline after which its group is
 * killed; `force` kills every group at once.
 */
export class HomeTree {
  readonly #daemons: Daemon[] = [];
  #stopping: Promise<void> | null = null;
  #urgency: StopUrgency = 'graceful';

  add(daemon: Daemon): void {
    this.#daemons.push(daemon);
  }

  get daemons(): readonly Daemon[] {
    return this.#daemons;
  }

  /** Whether the stop was hurried or forced by more signals. */
  get urgency(): StopUrgency {
    return this.#urgency;
  }

  stop(urgency: StopUrgency = 'graceful'): Promise<void> {
    if (urgency === 'force') {
      this.#urgency = 'force';
      for (const daemon of this.#daemons) daemon.kill();
    } else if (urgency === 'hurry' && this.#urgency === 'graceful') {
      this.#urgency = 'hurry';
      for (const daemon of this.#daemons) if (this.#stopping !== null) void daemon.terminate(HURRY_MS);
    }
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    // orchestratord first (its streams end with their terminal events while pool-managerd still relays them), then
    // pool-managerd; a daemon restarted after a crash is later in the list than the one it replaced.
    const order = [...this.#daemons].reverse().sort((a, b) => rank(a) - rank(b));
    for (const daemon of order) {
      if (this.#urgency === 'force') daemon.kill();
      await daemon.terminate(this.#urgency === 'graceful' ? STOP_GRACE_MS[daemon.name] : HURRY_MS);
    }
  }
}

const rank = (daemon: Daemon): number => (daemon.name === 'orchestratord' ? 0 : 1);
