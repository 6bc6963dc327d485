import type { PoolStatus } from '@llama-orch/contracts';

/** What the last poll of one pool-managerd address said. */
export interface NodeSnapshot {
  readonly available: boolean;
  readonly pools: readonly PoolStatus[];
  readonly lastError: string | null;
}

/** The node id a pool-managerd reports with its pools; null before it has listed any. */
export const nodeIdOf = (snapshot: NodeSnapshot | undefined): string | null => snapshot?.pools[0]?.node_id ?? null;

/**
 * Two addresses that report the same node_id are one node (a node reached as a Service IP and a pod IP, or listed
 * statically and found in DNS): for each node id the address to use is the first in order that answers, else the
 * first. Addresses that have not reported a node id yet stand for themselves.
 */
export function nodeOwners(
  nodes: readonly string[],
  snapshots: ReadonlyMap<string, NodeSnapshot>,
): ReadonlyMap<string, string> {
  const owners = new Map<string, string>();
  for (const node of nodes) {
    const id = nodeIdOf(snapshots.get(node));
    if (id === null) continue;
    const owner = owners.get(id);
    if (owner === undefined || (snapshots.get(owner)?.available !== true && snapshots.get(node)?.available === true))
      owners.set(id, node);
  }
  return owners;
}

/** Whether an address is the one that stands for its node (see nodeOwners). */
export const usedAddress = (node: string, snapshot: NodeSnapshot | undefined, owners: ReadonlyMap<string, string>) => {
  const id = nodeIdOf(snapshot);
  return id === null || owners.get(id) === node;
};
