export { correlation, MAX_JSON_DEPTH, readBody, sendError, type EdgeEnv } from './edge.ts';
export { bodySizeLimit, browserGuard, hostsFor, isLoopbackHost, type BrowserGuardOptions } from './guards.ts';
export { jsonDepthExceeds } from './json-depth.ts';
export { serveHttp, type HttpServer, type ServeOptions } from './serve.ts';
export { createEdgeApp, type EdgeAppOptions } from './edge-app.ts';
