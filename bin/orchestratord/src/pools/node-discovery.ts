import { Resolver } from 'node:dns/promises';
import { Periodic, type LifecycleLog } from '@llama-orch/lifecycle';
import { resolveTarget, type DnsTarget } from './dns-resolution.ts';

export interface NodeDiscoveryOptions {
  /** ORCHD_POOL_MANAGERS: always part of the node set. */
  readonly staticNodes: readonly string[];
  readonly dns: DnsTarget;
  /** ORCHD_DNS_SERVERS (`ip[:port]`); empty: the system's resolvers. */
  readonly servers: readonly string[];
  /** Re-resolved this often (the poll interval). */
  readonly intervalMs: number;
  /** Budget of one DNS query try (two tries). */
  readonly timeoutMs: number;
  readonly log: LifecycleLog;
  /** The node set changed: static entries first, then what DNS names, sorted. */
  readonly onNodes: (nodes: readonly string[]) => Promise<void>;
}

/**
 * Discovery without restarts: re-resolves ORCHD_POOL_MANAGERS_DNS every interval and hands the poller the static
 * list plus what DNS names now. A name with no records is an empty set (its nodes leave); a failed lookup (timeout,
 * SERVFAIL) keeps the last answer, so a DNS blip takes no node out of placement.
 */
export class NodeDiscovery {
  readonly #options: NodeDiscoveryOptions;
  readonly #resolver: Resolver;
  readonly #loop: Periodic;
  /** What DNS named at the last good lookup. */
  #discovered: readonly string[] = [];
  #failing = false;
  #answered = false;

  constructor(options: NodeDiscoveryOptions) {
    this.#options = options;
    this.#resolver = new Resolver({ timeout: options.timeoutMs, tries: 2 });
    if (options.servers.length > 0) this.#resolver.setServers([...options.servers]);
    this.#loop = new Periodic({
      name: 'pool-managerd discovery',
      intervalMs: options.intervalMs,
      tick: () => this.resolveOnce(),
      log: options.log,
    });
  }

  /** The nodes to poll now. */
  nodes(): readonly string[] {
    const statics = this.#options.staticNodes;
    return [...statics, ...this.#discovered.filter((url) => !statics.includes(url))];
  }

  async resolveOnce(): Promise<void> {
    const { dns, log } = this.#options;
    const answer = await resolveTarget(this.#resolver, dns);
    if (answer.kind === 'failed') {
      if (!this.#failing)
        log.warn(
          { dns: dns.name, reason: answer.reason, kept: this.#discovered },
          'pool-managerd DNS lookup failed; keeping the last answer',
        );
      this.#failing = true;
      return;
    }
    if (this.#failing) log.info({ dns: dns.name }, 'pool-managerd DNS lookup answers again');
    this.#failing = false;
    if (!this.#answered && answer.urls.length === 0)
      log.warn(
        { dns: dns.name, srv: dns.srvName },
        'no pool-managerd in DNS yet: the name has no A, AAAA or SRV records',
      );
    this.#answered = true;
    const before = this.#discovered;
    const added = answer.urls.filter((url) => !before.includes(url));
    const removed = before.filter((url) => !answer.urls.includes(url));
    if (added.length === 0 && removed.length === 0) return;
    this.#discovered = answer.urls;
    log.info(
      { dns: answer.via === 'srv' ? dns.srvName : dns.name, via: answer.via, added, removed },
      'pool-managerd addresses changed in DNS',
    );
    await this.#options.onNodes(this.nodes());
  }

  /** Resolve now (a failure is logged; the static list still applies), then every interval. */
  start(): Promise<void> {
    return this.#loop.start();
  }

  async stop(): Promise<void> {
    const stopping = this.#loop.stop();
    this.#resolver.cancel();
    await stopping;
  }
}
