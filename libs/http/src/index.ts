export { correlation, MAX_JSON_DEPTH, readBody, sendError, type EdgeEnv } from './edge.ts';
export { bodySizeLimit, browserGuard, hostsFor, type BrowserGuardOptions } from './guards.ts';
export { jsonDepthExceeds } from './json-depth.ts';
export {
  DEFAULT_CONNECTION_LIMITS,
  peerOf,
  serveHttp,
  transportRefusal,
  type ConnectionLimits,
  type HttpServer,
  type Peer,
  type ServedMaterial,
  type ServedMaterialSource,
  type ServeOptions,
  type ServeTls,
} from './serve.ts';
export { createEdgeApp, type EdgeAppOptions } from './edge-app.ts';
export { serveMetrics, type MetricsSource } from './metrics-server.ts';
export { rawStream, type RawStream } from './raw-stream.ts';
