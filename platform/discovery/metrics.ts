// Discovery/balancer metrics on a given Registry (never the global default), through platform/metrics.ts:
// asking twice on one registry returns the metrics already registered there.
// The instance a call went to is the `upstream` label (its registration id), never `instance`: that is
// Prometheus' own target label, and the monitors scrape without honorLabels.
import type { Counter, Gauge, Histogram, Registry } from "prom-client";
import { counter, gauge, histogram } from "../metrics.ts";

export interface DiscoveryMetrics {
  registrations: Counter<"service" | "outcome">;
  instances: Gauge<"service">;
  stale: Gauge<"service">;
  malformed: Counter<"service">;
  undialable: Counter<"service">;
  watchErrors: Counter<"service">;
  picks: Counter<"service" | "upstream" | "strategy">;
  retries: Counter<"service" | "method">;
  failures: Counter<"service" | "method" | "code">;
  ejections: Counter<"service" | "upstream">;
  clientDuration: Histogram<"service" | "method" | "upstream" | "code">;
}

export function discoveryMetrics(registry: Registry): DiscoveryMetrics {
  return {
    registrations: counter(registry, {
      name: "dzug_discovery_registrations_total",
      help: "Registrar outcomes (registered, lost, reregistered, failed)",
      labelNames: ["service", "outcome"],
    }),
    instances: gauge(registry, {
      name: "dzug_discovery_instances",
      help: "Live instances known per service",
      labelNames: ["service"],
    }),
    stale: gauge(registry, {
      name: "dzug_discovery_stale",
      help: "1 while the service's watcher cannot reach etcd",
      labelNames: ["service"],
    }),
    malformed: counter(registry, {
      name: "dzug_discovery_malformed_records_total",
      help: "Registration values ignored by watchers",
      labelNames: ["service"],
    }),
    undialable: counter(registry, {
      name: "dzug_discovery_undialable_records_total",
      help: "Instance records a caller could not open a connection for (skipped, logged)",
      labelNames: ["service"],
    }),
    watchErrors: counter(registry, {
      name: "dzug_discovery_watch_errors_total",
      help: "Watch events or instance-set updates that failed unexpectedly (skipped, logged)",
      labelNames: ["service"],
    }),
    picks: counter(registry, {
      name: "dzug_balancer_picks_total",
      help: "Balancer picks",
      labelNames: ["service", "upstream", "strategy"],
    }),
    retries: counter(registry, {
      name: "dzug_balancer_retries_total",
      help: "Calls retried on another instance",
      labelNames: ["service", "method"],
    }),
    failures: counter(registry, {
      name: "dzug_balancer_failures_total",
      help: "Calls that failed after all attempts for lack of a working instance (unavailable, deadline, internal); business errors are not counted",
      labelNames: ["service", "method", "code"],
    }),
    ejections: counter(registry, {
      name: "dzug_balancer_ejections_total",
      help: "Instances taken out of a client's rotation after consecutive failures (re-admitted after a health probe)",
      labelNames: ["service", "upstream"],
    }),
    clientDuration: histogram(registry, {
      name: "dzug_rpc_client_duration_seconds",
      help: "Client call attempt duration per instance",
      labelNames: ["service", "method", "upstream", "code"],
    }),
  };
}
