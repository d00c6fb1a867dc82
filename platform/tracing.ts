// OpenTelemetry traces, off unless an OTLP endpoint is configured through the standard OTEL_* variables.
// gRPC spans come from nice-grpc-opentelemetry middleware, HTTP spans from the gateway's middleware:
// no monkey-patching, so it works the same under ESM.
import { OTLPTraceExporter as OTLPGrpcExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { OTLPTraceExporter as OTLPJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OTLPProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
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

/** The exporter for OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: http/protobuf (default), http/json or grpc. */
function exporterFor(env: Record<string, string | undefined>) {
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || "http/protobuf";
  switch (protocol) {
    case "http/json":
      return new OTLPJsonExporter();
    case "grpc":
      return new OTLPGrpcExporter();
    case "http/protobuf":
      return new OTLPProtoExporter();
    default:
      throw new Error(
        `OTEL_EXPORTER_OTLP_PROTOCOL: expected http/protobuf, http/json or grpc, got ${JSON.stringify(protocol)}`,
      );
  }
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
    spanProcessors: [new BatchSpanProcessor(exporterFor(env), { scheduledDelayMillis: 500 })],
  });
  provider.register();
  return { enabled: true, shutdown: () => provider.shutdown() };
}
