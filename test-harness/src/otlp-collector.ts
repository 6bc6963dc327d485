import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';

export interface OtlpCollector {
  readonly endpoint: string;
  /** Raw ExportTraceServiceRequest bodies received so far. */
  readonly exports: Buffer[];
  readonly stop: () => Promise<void>;
}

const identity = (buffer: Buffer): Buffer => buffer;

/**
 * A minimal OTLP/gRPC trace collector on loopback: it accepts TraceService/Export calls and keeps the raw
 * protobuf bodies (span names and ids appear in them as plain bytes), answering with an empty response.
 */
export async function startOtlpCollector(): Promise<OtlpCollector> {
  const exports: Buffer[] = [];
  const service: ServiceDefinition = {
    Export: {
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
  const server = new Server();
  server.addService(service, {
    Export: (call: { request: Buffer }, callback: (error: null, response: Buffer) => void) => {
      exports.push(call.request);
      callback(null, Buffer.alloc(0));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    exports,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
