import { errorEnvelope, type ErrorEnvelope } from '@llama-orch/contracts';
import type { Identity } from './auth/identity.ts';

/**
 * Event streams one client identity may hold open at once (ORCHD_MAX_STREAMS_PER_CLIENT): a client that opens
 * streams and never reads them cannot take every connection and task of the server. `open` gives a release
 * function (idempotent), or the 429 envelope when the identity is at its limit.
 */
export class StreamLimiter {
  readonly #max: number;
  readonly #limit: string;
  readonly #open = new Map<string, number>();

  /** `limit` names the limit in the refusal: the variable that sets it, by default. */
  constructor(max: number, limit = 'ORCHD_MAX_STREAMS_PER_CLIENT') {
    this.#max = max;
    this.#limit = limit;
  }

  open(identity: Identity): { ok: true; release: () => void } | { ok: false; envelope: ErrorEnvelope } {
    const held = this.#open.get(identity.owner) ?? 0;
    if (held >= this.#max)
      return {
        ok: false,
        envelope: errorEnvelope(
          'TOO_MANY_STREAMS',
          `${identity.label} already holds ${held} open streams, the most one client may (${this.#limit})`,
          { retry_after_ms: 1000 },
        ),
      };
    this.#open.set(identity.owner, held + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#open.get(identity.owner) ?? 1) - 1;
        if (left === 0) this.#open.delete(identity.owner);
        else this.#open.set(identity.owner, left);
      },
    };
  }
}
