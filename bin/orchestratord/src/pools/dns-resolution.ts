import type { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Where DNS names the pool-managerds (ORCHD_POOL_MANAGERS_DNS). */
export interface DnsTarget {
  /** The name whose A/AAAA records are pool-managerds: a headless Service, a compose service name. */
  readonly name: string;
  /** `_pool-managerd._tcp.<name>`: when it has SRV records, their targets and ports are used instead. */
  readonly srvName: string;
  /** The port of an address found by A/AAAA (ORCHD_POOL_MANAGERS_PORT). */
  readonly port: number;
  readonly scheme: 'http' | 'https';
}

/**
 * A pool-managerd DNS names: the URL it is reached at (its address) and the name its certificate is checked against,
 * the one it was found under (the SRV target, or the name whose A/AAAA records listed it), so certificates name the
 * Service's DNS names and never pod addresses (CLOUD-7009).
 */
export interface FoundNode {
  readonly url: string;
  readonly serverName: string;
}

/** One round of resolution: the pool-managerds DNS names now, sorted by URL, or why it could not say. */
export type Resolution =
  | { readonly kind: 'resolved'; readonly via: 'srv' | 'address'; readonly nodes: readonly FoundNode[] }
  | { readonly kind: 'failed'; readonly reason: string };

/** Answers that say a name has no such records: an empty set, not a failure (NXDOMAIN, NOERROR without data). */
const NO_RECORDS: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA']);

const noRecords = (error: unknown): boolean => NO_RECORDS.has((error as { code?: string }).code ?? '');

/** The records, or none when the name has none; any other error (timeout, SERVFAIL, refused) is thrown. */
async function records<T>(lookup: Promise<T[]>): Promise<T[]> {
  try {
    return await lookup;
  } catch (error) {
    if (noRecords(error)) return [];
    throw error;
  }
}

/** Every A and AAAA address of a name. */
async function addresses(resolver: Resolver, name: string): Promise<string[]> {
  const [v4, v6] = await Promise.all([records(resolver.resolve4(name)), records(resolver.resolve6(name))]);
  return [...v4, ...v6];
}

export const nodeUrl = (scheme: string, address: string, port: number): string =>
  `${scheme}://${isIP(address) === 6 ? `[${address}]` : address}:${port}`;

const withoutRootDot = (name: string): string => name.replace(/\.$/, '');

/**
 * One node per URL: where two names lead to the same address and port, the first name in order stands for it (any
 * of them names the same server), so the same answer is the same set.
 */
function byUrl(found: readonly FoundNode[]): FoundNode[] {
  const nodes = new Map<string, FoundNode>();
  const sorted = [...found].sort((a, b) => a.serverName.localeCompare(b.serverName));
  for (const node of sorted) if (!nodes.has(node.url)) nodes.set(node.url, node);
  return [...nodes.values()].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
}

/**
 * Resolve the target once: SRV records when the SRV name has any (each target's addresses at its port, named by the
 * target; a target of "." says the service is not offered), else every A/AAAA address at the configured port, named
 * by the name itself.
 */
export async function resolveTarget(resolver: Resolver, target: DnsTarget): Promise<Resolution> {
  try {
    const srv = await records(resolver.resolveSrv(target.srvName));
    const found: FoundNode[] = [];
    if (srv.length > 0) {
      const named = srv.filter((record) => record.name !== '' && record.name !== '.');
      const resolved = await Promise.all(
        named.map(async (record) =>
          (await addresses(resolver, record.name)).map((address) => ({
            url: nodeUrl(target.scheme, address, record.port),
            serverName: withoutRootDot(record.name),
          })),
        ),
      );
      found.push(...resolved.flat());
    } else {
      const serverName = withoutRootDot(target.name);
      for (const address of await addresses(resolver, target.name))
        found.push({ url: nodeUrl(target.scheme, address, target.port), serverName });
    }
    return { kind: 'resolved', via: srv.length > 0 ? 'srv' : 'address', nodes: byUrl(found) };
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    return { kind: 'failed', reason: code ?? message ?? String(error) };
  }
}
