import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { NodeSDK } from '@opentelemetry/sdk-node';

/** Start the OpenTelemetry SDK (OTLP/gRPC traces, W3C trace context) when an endpoint is configured. */
export function startTracing(endpoint: string | undefined): (() => Promise<void>) | null {
  if (endpoint === undefined) return null;
  const sdk = new NodeSDK({
    serviceName: 'orchestratord',
    traceExporter: new OTLPTraceExporter({ url: endpoint }),
    instrumentations: [],
    resourceDetectors: [],
  });
  sdk.start();
  return () => sdk.shutdown();
}
