export { parseNodeConfig } from './parse-node-config.ts';
export {
  resolveNodeConfig,
  nodeIdFromHostname,
  type ResolvedNodeConfig,
  type ResolveContext,
} from './resolve-node-config.ts';
export { loadNodeConfig } from './load-node-config.ts';
export { bindAddr, commaList, envInt, isLoopbackHost, logLevel, splitBind, splitList, tcpPort } from './env.ts';
