// Discovery/balancer metrics, created lazily per Registry (never the global default).
// Asking twice on one registry returns the metric already registered there.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

type Ctor<M> = new (cfg: {
  name: string;
  help: string;
  labelNames: readonly string[];
  registers: Registry[];
  buckets?: number[];
}) => M;

function getOrCreate<M>(
  registry: Registry,
  ctor: Ctor<M>,
  name: string,
  help: string,
  labelNames: readonly string[],
  buckets?: number[],
): M {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as unknown as M;
  return new ctor({ name, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) });
}

export interface DiscoveryMetrics {
  registrations: Counter<"service" | "outcome">;
  instances: Gauge<"service">;
  stale: Gauge<"service">;
  malformed: Counter<"service">;
  picks: Counter<"service" | "instance" | "strategy">;
  retries: Counter<"service" | "method">;
  failures: Counter<"service" | "method" | "code">;
  clientDuration: Histogram<"service" | "method" | "instance" | "code">;
}

export function discoveryMetrics(registry: Registry): DiscoveryMetrics {
  return {
    registrations: getOrCreate(
      registry,
      Counter,
      "dzug_discovery_registrations_total",
      "Registrar outcomes (registered, lost, reregistered, failed)",
      ["service", "outcome"],
    ),
    instances: getOrCreate(registry, Gauge, "dzug_discovery_instances", "Live instances known per service", [
      "service",
    ]),
    stale: getOrCreate(registry, Gauge, "dzug_discovery_stale", "1 while the service's watcher cannot reach etcd", [
      "service",
    ]),
    malformed: getOrCreate(
      registry,
      Counter,
      "dzug_discovery_malformed_records_total",
      "Registration values ignored by watchers",
      ["service"],
    ),
    picks: getOrCreate(registry, Counter, "dzug_balancer_picks_total", "Balancer picks", [
      "service",
      "instance",
      "strategy",
    ]),
    retries: getOrCreate(registry, Counter, "dzug_balancer_retries_total", "Calls retried on another instance", [
      "service",
      "method",
    ]),
    failures: getOrCreate(
      registry,
      Counter,
      "dzug_balancer_failures_total",
      "Calls that failed after all attempts for lack of a working instance (unavailable, deadline, internal); business errors are not counted",
      ["service", "method", "code"],
    ),
    clientDuration: getOrCreate(
      registry,
      Histogram,
      "dzug_rpc_client_duration_seconds",
      "Client call attempt duration per instance",
      ["service", "method", "instance", "code"],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
  };
}
