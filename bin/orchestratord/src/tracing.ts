/**
 * Start the OpenTelemetry SDK (OTLP/gRPC traces, W3C trace context) when an endpoint is configured. The SDK and
 * its gRPC exporter are loaded only then: without tracing they would cost start-up time and memory for nothing.
 */
export async function startTracing(endpoint: string | undefined): Promise<(() => Promise<void>) | null> {
  if (endpoint === undefined) return null;
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-grpc'),
  ]);
  const sdk = new NodeSDK({
    serviceName: 'orchestratord',
    traceExporter: new OTLPTraceExporter({ url: endpoint }),
    instrumentations: [],
    resourceDetectors: [],
  });
  sdk.start();
  return () => sdk.shutdown();
}
