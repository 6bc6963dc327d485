/**
 * A multi-node CLOUD cluster for tests: each node in its own Linux network namespace on a bridge the harness makes,
 * pool-managerd bound to the node's IP over mutual TLS, orchestratord replicas on the root namespace's loopback.
 */
export type { NetCluster, NetClusterOptions, NetNode, NetOrchestratord, NodeSpec, PoolSpec } from './types.ts';
export type { PoolStatus } from '@llama-orch/contracts';
export { startNetCluster, READY_BUDGET_MS } from './cluster.ts';
export { netnsUnavailable } from './host.ts';
export { POOLS_DNS_NAME } from './certs.ts';
