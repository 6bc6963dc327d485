/**
 * A multi-node CLOUD cluster for tests: each node in its own Linux network namespace on a bridge the harness makes,
 * pool-managerd bound to the node's IP over mutual TLS, orchestratord replicas on the root namespace's loopback.
 */
export type { NetCluster, NetClusterOptions, NetNode, NetOrchestratord, NodeSpec, PoolSpec } from './types.ts';
export type { PoolStatus } from '@llama-orch/contracts';
import type { NetCluster, NetClusterOptions } from './types.ts';

/** null when this process can make namespaces (root, `ip` and `iptables` present); else why not. */
export function netnsUnavailable(): Promise<string | null> {
  return Promise.resolve('the netns harness is being written (issue 13)');
}

export function startNetCluster(options: NetClusterOptions): Promise<NetCluster> {
  return Promise.reject(new Error(`startNetCluster(${options.nodes.length} nodes): not yet implemented`));
}
