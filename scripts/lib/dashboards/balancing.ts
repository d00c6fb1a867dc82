// "dzug / Client-side balancing": how callers spread RPCs over the instances they discover in etcd. Metric
// labels: `service` is the called service, `upstream` the picked instance (docs/architecture.md, Metrics).
// One function per row: a new panel goes into the list of its row.
import * as common from "@grafana/grafana-foundation-sdk/common";
import type { DashboardBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { dzugDashboard, eventsIn, labelVariable, query, RATE, type Row, sel, stat, timeseries } from "./kit.ts";

const M = sel("namespace", "service");
const REGISTRATIONS = `dzug_discovery_registrations_total{${M}}`;
const EJECTIONS = `dzug_balancer_ejections_total{${M}}`;

function balancing(): Row {
  return {
    title: "Balancing",
    panels: [
      timeseries(
        "Picks per second per instance — $service",
        "Balancer picks per second for each backend instance, one panel per called service. An even balancer draws parallel lines.",
        "reqps",
        24, // repeated: Grafana gives each copy 24 / maxPerRow columns
      )
        .repeat("service")
        .repeatDirection("h")
        .maxPerRow(2)
        .withTarget(
          query(
            `sum by (service, upstream) (rate(dzug_balancer_picks_total{${M}}[${RATE}]))`,
            "{{service}} → {{upstream}}",
          ),
        ),
      timeseries(
        "Share of picks per instance",
        "Each instance's fraction of its service's picks (stacks to 100% per service). With N equal-weight instances each should sit near 1/N.",
        "percentunit",
        24,
      )
        .max(1)
        .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal).group("A"))
        .withTarget(
          query(
            `sum by (service, upstream) (rate(dzug_balancer_picks_total{${M}}[${RATE}])) / ignoring(upstream) group_left sum by (service) (rate(dzug_balancer_picks_total{${M}}[${RATE}]))`,
            "{{service}} → {{upstream}}",
          ),
        ),
    ],
  };
}

function discovery(): Row {
  return {
    title: "Discovery",
    panels: [
      timeseries(
        "Live instances per service",
        "Instances each caller currently sees in etcd (max and min over the callers reporting). A gap between the two means callers disagree.",
        "short",
        12,
        8,
      )
        .decimals(0)
        .withTarget(query(`max by (service) (dzug_discovery_instances{${M}})`, "{{service}} (max)", "A"))
        .withTarget(query(`min by (service) (dzug_discovery_instances{${M}})`, "{{service}} (min)", "B")),
      stat(
        "Discovery stale",
        "1 while a caller cannot reach etcd and serves its last known instance list.",
        "short",
        6,
        8,
      ).withTarget(query(`max by (service) (dzug_discovery_stale{${M}})`, "{{service}}")),
      stat(
        "Registrations (1h)",
        "Registrar events in the last hour: registered, lost (lease expired), reregistered, failed. A label set is only exported from its first event on, so a series first seen within the hour counts in full: increase() alone misses a series's first event, and most registrar series only ever have one.",
        "short",
        6,
        8,
      ).withTarget(query(`sum by (service, outcome) (${eventsIn(REGISTRATIONS, "1h")})`, "{{service}} {{outcome}}")),
    ],
  };
}

function failures(): Row {
  return {
    title: "Failures",
    panels: [
      timeseries(
        "Retries per second",
        "Attempts the balancer retried on another instance, by service and method.",
        "reqps",
        8,
        8,
      ).withTarget(
        query(`sum by (service, method) (rate(dzug_balancer_retries_total{${M}}[${RATE}]))`, "{{service}} {{method}}"),
      ),
      timeseries(
        "Failed picks per second",
        "Calls that failed after every attempt (or found no instance), by service, method and code.",
        "reqps",
        8,
        8,
      ).withTarget(
        query(
          `sum by (service, method, code) (rate(dzug_balancer_failures_total{${M}}[${RATE}]))`,
          "{{service}} {{method}} {{code}}",
        ),
      ),
      timeseries(
        "Ejections (10 min)",
        "Times callers took an instance out of their rotation after consecutive UNAVAILABLE/INTERNAL/DEADLINE_EXCEEDED failures, in the trailing 10 minutes (a health probe re-admits it; the status page shows EJECTED). An instance's first ejection creates its series, so it is counted from its value.",
        "short",
        8,
        8,
      )
        .decimals(0)
        .withTarget(query(`sum by (service, upstream) (${eventsIn(EJECTIONS, "10m")})`, "{{service}} → {{upstream}}")),
    ],
  };
}

function latency(): Row {
  return {
    title: "RPC latency",
    panels: [
      timeseries(
        "RPC latency p99 per instance",
        "Client-side p99 of dzug_rpc_client_duration_seconds per picked instance: a slow instance stands out.",
        "s",
      ).withTarget(
        query(
          `histogram_quantile(0.99, sum by (service, upstream, le) (rate(dzug_rpc_client_duration_seconds_bucket{${M}}[${RATE}])))`,
          "{{service}} → {{upstream}}",
        ),
      ),
      timeseries(
        "RPC rate per instance by code",
        "Client-side RPCs per second per instance and status code.",
        "reqps",
      ).withTarget(
        query(
          `sum by (service, upstream, code) (rate(dzug_rpc_client_duration_seconds_count{${M}}[${RATE}]))`,
          "{{service}} → {{upstream}} {{code}}",
        ),
      ),
      timeseries(
        "Server-side latency p99 by method",
        "p99 of dzug_rpc_server_duration_seconds as the services measure it.",
        "s",
        24,
      ).withTarget(
        query(
          `histogram_quantile(0.99, sum by (service, method, le) (rate(dzug_rpc_server_duration_seconds_bucket{${M}}[${RATE}])))`,
          "{{service}} {{method}}",
        ),
      ),
    ],
  };
}

function loadAware(): Row {
  return {
    title: "Load-aware balancing",
    panels: [
      timeseries(
        "Share of picks per instance by strategy",
        "Each instance's fraction of its service's picks under each strategy in use (balancer.strategy, services.<svc>.strategy). p2c-ewma and least-request move share away from a slow instance; random and round-robin keep 1/N.",
        "percentunit",
      )
        .max(1)
        .withTarget(
          query(
            `sum by (service, strategy, upstream) (rate(dzug_balancer_picks_total{${M}}[${RATE}])) / ignoring(upstream) group_left sum by (service, strategy) (rate(dzug_balancer_picks_total{${M}}[${RATE}]))`,
            "{{service}} {{strategy}} → {{upstream}}",
          ),
        ),
      timeseries(
        "Calls in flight per instance",
        "Attempts in flight to each instance, summed over the callers (dzug_balancer_inflight): what least-request compares, and p2c-ewma's multiplier.",
        "short",
      ).withTarget(query(`sum by (service, upstream) (dzug_balancer_inflight{${M}})`, "{{service}} → {{upstream}}")),
      timeseries(
        "Latency estimate per instance (peak EWMA)",
        "The highest over the callers of each instance's peak-EWMA attempt latency (dzug_balancer_latency_ewma_seconds): it jumps on a slow answer and decays over balancer.ewmaDecayMs.",
        "s",
      ).withTarget(
        query(`max by (service, upstream) (dzug_balancer_latency_ewma_seconds{${M}})`, "{{service}} → {{upstream}}"),
      ),
      timeseries(
        "Score per instance by strategy",
        "The strategy's score of each instance, highest over the callers (dzug_balancer_score; lower is picked first): p2c-ewma latency x (in-flight + 1) / weight, least-request (in-flight + 1)^bias / weight. Empty while only random, weighted-random or round-robin are in use.",
        "short",
      ).withTarget(
        query(
          `max by (service, strategy, upstream) (dzug_balancer_score{${M}})`,
          "{{service}} {{strategy}} → {{upstream}}",
        ),
      ),
    ],
  };
}

export function balancingDashboard(): DashboardBuilder {
  return dzugDashboard({
    title: "dzug / Client-side balancing",
    uid: "dzug-balancing",
    description:
      "How callers spread RPCs over the instances they discover in etcd: picks, shares, retries, failures, ejections, latency per instance.",
    tags: ["grpc", "etcd"],
    metric: "dzug_balancer_picks_total",
    variables: [labelVariable("service", "Service", "dzug_balancer_picks_total", sel("namespace"))],
    rows: [balancing(), discovery(), failures(), latency(), loadAware()],
  });
}
