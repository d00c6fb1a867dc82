// OpenTelemetry traces through the Node SDK (@opentelemetry/sdk-node), configured by the standard OTEL_*
// variables alone: on when OTEL_TRACES_EXPORTER names an exporter (`console` prints spans, `otlp`, …) or
// an OTLP endpoint is set; off when neither is (no SDK, no span middleware: no per-call cost). NodeSDK reads the standard OTEL_* variables of the process environment: exporter and
// protocol (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL: http/protobuf default,
// http/json, grpc), endpoint and headers, sampler (OTEL_TRACES_SAMPLER[_ARG]), batching
// (OTEL_BSP_*), propagators, resource attributes (OTEL_RESOURCE_ATTRIBUTES) and OTEL_SDK_DISABLED.
// Only traces: metrics are Prometheus' (prom-client) and logs pino's, so NodeSDK gets no metric reader
// and no log processor. No auto-instrumentation either: gRPC spans come from nice-grpc-opentelemetry,
// HTTP spans from the gateway's middleware — no monkey-patching, so it works the same under ESM.
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";

export interface Tracing {
  readonly enabled: boolean;
  shutdown(): Promise<void>;
}

/**
 * Tracing is on when a trace exporter is named (OTEL_TRACES_EXPORTER, e.g. `console` or `otlp`) or an
 * OTLP endpoint is set, unless the SDK or the trace exporter is turned off (OTEL_SDK_DISABLED=true,
 * OTEL_TRACES_EXPORTER=none).
 */
export function tracingConfigured(env: Record<string, string | undefined>): boolean {
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true" || exporters.includes("none")) return false;
  return exporters.length > 0 || Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export function startTracing(
  opts: { service: string; version: string; instance: string },
  env: Record<string, string | undefined> = process.env,
): Tracing {
  // Off: no SDK at all, and callers install no span middleware (a no-op tracer still costs per call).
  if (!tracingConfigured(env)) return { enabled: false, shutdown: async () => {} };
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, wins over this default (NodeSDK's env resource detector).
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME || `dzug-${opts.service}`,
      [ATTR_SERVICE_VERSION]: opts.version,
      "service.instance.id": opts.instance,
    }),
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return { enabled: true, shutdown: () => sdk.shutdown() };
}
