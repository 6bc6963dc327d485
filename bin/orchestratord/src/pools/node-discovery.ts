import { Resolver } from 'node:dns/promises';
import { Periodic, type LifecycleLog } from '@llama-orch/lifecycle';
import { resolveTarget, type DnsTarget, type FoundNode } from './dns-resolution.ts';

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

const originOf = (url: string): string => new URL(url).origin;

/**
 * Discovery without restarts: re-resolves ORCHD_POOL_MANAGERS_DNS every interval and hands the poller the static
 * list plus what DNS names now. A name with no records is an empty set (its nodes leave); a failed lookup (timeout,
 * SERVFAIL) keeps the last answer, so a DNS blip takes no node out of placement. It also says, for each node it
 * found, the name its certificate is checked against (`serverName`): the one DNS found it under.
 */
export class NodeDiscovery {
  readonly #options: NodeDiscoveryOptions;
  readonly #resolver: Resolver;
  readonly #loop: Periodic;
  /** Origins of the static entries: checked against their own host, whatever DNS says. */
  readonly #staticOrigins: ReadonlySet<string>;
  /** What DNS named at the last good lookup. */
  #discovered: readonly FoundNode[] = [];
  /** The name each discovered node was found under, by origin. */
  #names: ReadonlyMap<string, string> = new Map();
  #failing = false;
  #answered = false;

  constructor(options: NodeDiscoveryOptions) {
    this.#options = options;
    this.#staticOrigins = new Set(options.staticNodes.map(originOf));
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
    return [...statics, ...this.#discovered.map((node) => node.url).filter((url) => !statics.includes(url))];
  }

  /**
   * The DNS name the certificate of the node at `origin` is checked against (and sent as SNI): the name DNS found
   * it under at the last good lookup. undefined for a static entry (its own host) and for what DNS does not name.
   */
  serverName(origin: string): string | undefined {
    return this.#staticOrigins.has(origin) ? undefined : this.#names.get(origin);
  }

  async resolveOnce(): Promise<void> {
    const { dns, log } = this.#options;
    const answer = await resolveTarget(this.#resolver, dns);
    if (answer.kind === 'failed') {
      if (!this.#failing)
        log.warn(
          { dns: dns.name, reason: answer.reason, kept: this.#discovered.map((node) => node.url) },
          'pool-managerd DNS lookup failed; keeping the last answer',
        );
      this.#failing = true;
      return;
    }
    if (this.#failing) log.info({ dns: dns.name }, 'pool-managerd DNS lookup answers again');
    this.#failing = false;
    if (!this.#answered && answer.nodes.length === 0)
      log.warn(
        { dns: dns.name, srv: dns.srvName },
        'no pool-managerd in DNS yet: the name has no A, AAAA or SRV records',
      );
    this.#answered = true;
    const before = this.#discovered.map((node) => node.url);
    const now = answer.nodes.map((node) => node.url);
    const added = answer.nodes.filter((node) => !before.includes(node.url));
    const removed = before.filter((url) => !now.includes(url));
    // The names first: a node handed to the poller below is connected to under its name at once.
    this.#discovered = answer.nodes;
    this.#names = new Map(answer.nodes.map((node) => [originOf(node.url), node.serverName]));
    if (added.length === 0 && removed.length === 0) return;
    log.info(
      {
        dns: answer.via === 'srv' ? dns.srvName : dns.name,
        via: answer.via,
        added: added.map((node) => node.url),
        removed,
        // What each new node's certificate must name: the DNS name it was found under.
        server_names: Object.fromEntries(added.map((node) => [node.url, node.serverName])),
      },
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
