// OpenTelemetry traces, off unless an OTLP endpoint is configured through the standard OTEL_* variables.
// gRPC spans come from nice-grpc-opentelemetry middleware, HTTP spans from the gateway's middleware:
// no monkey-patching, so it works the same under ESM.
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";

export interface Tracing {
  readonly enabled: boolean;
  shutdown(): Promise<void>;
}

export function tracingConfigured(env: Record<string, string | undefined>): boolean {
  if (env.OTEL_SDK_DISABLED === "true" || env.OTEL_TRACES_EXPORTER === "none") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export function startTracing(
  opts: { service: string; version: string; instance: string },
  env: Record<string, string | undefined> = process.env,
): Tracing {
  if (!tracingConfigured(env)) return { enabled: false, shutdown: async () => {} };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME || `dzug-${opts.service}`,
      [ATTR_SERVICE_VERSION]: opts.version,
      "service.instance.id": opts.instance,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 })],
  });
  provider.register();
  return { enabled: true, shutdown: () => provider.shutdown() };
}
