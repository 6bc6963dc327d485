import type { PoolReadyCallback, PoolState } from '@llama-orch/contracts';
import { clientAgents, type ClientAgents, type TlsMaterial, type TlsMaterialSource } from '@llama-orch/tls';
import type { Logger } from 'pino';
import { request } from 'undici';

/** Budget of one callback, connection and answer included: a hint that is late is worth nothing. */
const CALLBACK_TIMEOUT_MS = 2_000;

/**
 * Tells every orchestratord in POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL that a pool changed state, so it polls this
 * node at once instead of at its next interval (the CLOUD spec's callback pattern, ARCHITECTURE §7). Over https the
 * request presents this node's certificate as its client certificate (the agents rotate with it). A hint only:
 * orchestratord's poll stays the source of truth, so a callback that fails is logged and not retried.
 */
export class ReadinessCallbacks {
  readonly #urls: readonly string[];
  readonly #nodeId: string;
  readonly #agents: ClientAgents;
  readonly #log: Logger;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  readonly #unsubscribe: () => void;

  constructor(urls: readonly string[], nodeId: string, material: TlsMaterialSource | null, log: Logger) {
    this.#urls = urls;
    this.#nodeId = nodeId;
    this.#agents = clientAgents(material);
    this.#log = log;
    this.#unsubscribe = material?.onChange((next) => this.#checkUsage(next)) ?? (() => undefined);
    if (material !== null) this.#checkUsage(material.material);
  }

  /** POST the change to every orchestratord, without waiting; nothing once stopped. */
  notify(poolId: string, state: PoolState): void {
    if (this.#stopping.signal.aborted) return;
    const body: PoolReadyCallback = { pool_id: poolId, node_id: this.#nodeId, state };
    for (const url of this.#urls) {
      const sent = this.#send(url, body);
      this.#inFlight.add(sent);
      void sent.finally(() => this.#inFlight.delete(sent));
    }
  }

  /** Abort the callbacks in flight, wait for them, close the connections. Idempotent. */
  async stop(): Promise<void> {
    this.#stopping.abort(new Error('pool-managerd is stopping'));
    this.#unsubscribe();
    await Promise.all(this.#inFlight);
    await this.#agents.close();
  }

  /** orchestratord verifies the callback's certificate as a client certificate: it needs the clientAuth usage. */
  #checkUsage(material: TlsMaterial): void {
    if (material.clientAuth || !this.#urls.some((url) => new URL(url).protocol === 'https:')) return;
    this.#log.warn(
      { serial_number: material.serialNumber, subject: material.subject },
      'the node certificate is for servers only: orchestratord will refuse its readiness callbacks (issue it with usage both: llorch certs issue --usage both)',
    );
  }

  async #send(url: string, body: PoolReadyCallback): Promise<void> {
    const fields = { pool_id: body.pool_id, state: body.state, url };
    try {
      const answer = await request(url, {
        method: 'POST',
        dispatcher: this.#agents.current,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(CALLBACK_TIMEOUT_MS)]),
      });
      const text = await answer.body.text();
      if (answer.statusCode >= 200 && answer.statusCode < 300) this.#log.debug(fields, 'readiness callback taken');
      else
        this.#log.warn(
          { ...fields, status: answer.statusCode, answer: text.slice(0, 300) },
          "readiness callback refused; orchestratord's next poll sees the change",
        );
    } catch (error) {
      if (this.#stopping.signal.aborted) return;
      this.#log.warn(
        { ...fields, reason: (error as Error).message },
        "readiness callback failed; orchestratord's next poll sees the change",
      );
    }
  }
}
