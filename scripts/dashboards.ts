// Grafana dashboards as code (@grafana/grafana-foundation-sdk), generated into charts/dzug/dashboards/*.json.
// The chart ships each file as a ConfigMap for the Grafana dashboard sidecar.
//
//   node scripts/dashboards.ts          write the JSON files
//   node scripts/dashboards.ts --check  exit 1 if the committed files differ from what this produces
//
// Metric names are the ones fixed in docs/architecture.md (tests/chart/dashboards.test.ts checks that).
// Queries group by the metrics' own labels: `service` is the called service, `upstream` the picked instance
// (`instance` is Prometheus' target label, i.e. the process that was scraped: the monitors keep it).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as common from "@grafana/grafana-foundation-sdk/common";
import {
  DashboardBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatPanelBuilder } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TimeseriesPanelBuilder } from "@grafana/grafana-foundation-sdk/timeseries";

export const DASHBOARD_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "charts", "dzug", "dashboards");

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana (not JS) interpolates the data source variable.
const DS = { type: "prometheus", uid: "${datasource}" };
const SVC = 'service=~"$service"';
const REGISTRATIONS = `dzug_discovery_registrations_total{${SVC}}`;

function query(expr: string, legend: string, refId = "A"): DataqueryBuilder {
  return new DataqueryBuilder().datasource(DS).expr(expr).legendFormat(legend).refId(refId);
}

function timeseries(title: string, description: string, unit: string): TimeseriesPanelBuilder {
  return new TimeseriesPanelBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .unit(unit)
    .min(0)
    .lineWidth(1)
    .fillOpacity(10)
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Right)
        .showLegend(true)
        .calcs(["mean", "lastNotNull", "max"]),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending),
    );
}

function stat(title: string, description: string, unit: string): StatPanelBuilder {
  return new StatPanelBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .unit(unit)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.Area);
}

function datasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder("datasource").label("Data source").type("prometheus");
}

function labelVariable(name: string, label: string, metric: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(DS)
    .query({ query: `label_values(${metric}, ${name})`, refId: "PrometheusVariableQueryEditor-VariableQuery" })
    .definition(`label_values(${metric}, ${name})`)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue(".*");
}

export function balancingDashboard(): DashboardBuilder {
  return new DashboardBuilder("dzug / Client-side balancing")
    .uid("dzug-balancing")
    .description(
      "How callers spread RPCs over the instances they discover in etcd: picks, shares, retries, failures, latency per instance.",
    )
    .tags(["dzug", "grpc", "etcd", "generated"])
    .editable()
    .refresh("10s")
    .time({ from: "now-30m", to: "now" })
    .timezone("browser")
    .withVariable(datasourceVariable())
    .withVariable(labelVariable("service", "Service", "dzug_balancer_picks_total"))
    .withRow(new RowBuilder("Balancing"))
    .withPanel(
      timeseries(
        "Picks per second per instance — $service",
        "Balancer picks per second for each backend instance, one panel per called service. An even balancer draws parallel lines.",
        "reqps",
      )
        .repeat("service")
        .repeatDirection("h")
        .maxPerRow(2)
        .gridPos({ h: 9, w: 12, x: 0, y: 1 })
        .withTarget(
          query(
            `sum by (service, upstream) (rate(dzug_balancer_picks_total{${SVC}}[1m]))`,
            "{{service}} → {{upstream}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        "Share of picks per instance",
        "Each instance's fraction of its service's picks (stacks to 100% per service). With N equal-weight instances each should sit near 1/N.",
        "percentunit",
      )
        .max(1)
        .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal).group("A"))
        .gridPos({ h: 9, w: 12, x: 0, y: 10 })
        .withTarget(
          query(
            `sum by (service, upstream) (rate(dzug_balancer_picks_total{${SVC}}[5m])) / ignoring(upstream) group_left sum by (service) (rate(dzug_balancer_picks_total{${SVC}}[5m]))`,
            "{{service}} → {{upstream}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        "Live instances per service",
        "Instances each caller currently sees in etcd (max and min over the callers reporting). A gap between the two means callers disagree.",
        "short",
      )
        .decimals(0)
        .gridPos({ h: 9, w: 12, x: 12, y: 10 })
        .withTarget(query(`max by (service) (dzug_discovery_instances{${SVC}})`, "{{service}} (max)", "A"))
        .withTarget(query(`min by (service) (dzug_discovery_instances{${SVC}})`, "{{service}} (min)", "B")),
    )
    .withPanel(
      stat("Discovery stale", "1 while a caller cannot reach etcd and serves its last known instance list.", "short")
        .gridPos({ h: 4, w: 6, x: 0, y: 19 })
        .withTarget(query(`max by (service) (dzug_discovery_stale{${SVC}})`, "{{service}}")),
    )
    .withPanel(
      stat(
        "Registrations (1h)",
        "Registrar events in the last hour: registered, lost (lease expired), reregistered, failed. A label set is only exported from its first event on, so a series first seen within the hour counts in full: increase() alone misses a series's first event, and most registrar series only ever have one.",
        "short",
      )
        .gridPos({ h: 4, w: 6, x: 6, y: 19 })
        .withTarget(
          query(
            // Series that existed an hour ago: their increase; series born since: their highest value (prom-client
            // creates a counter's label set on its first inc, so it started from 0 within the hour). max_over_time
            // also keeps the events of instances that have died since.
            `sum by (service, outcome) ((increase(${REGISTRATIONS}[1h]) and ${REGISTRATIONS} offset 1h) or (max_over_time(${REGISTRATIONS}[1h]) unless ${REGISTRATIONS} offset 1h))`,
            "{{service}} {{outcome}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        "Retries per second",
        "Attempts the balancer retried on another instance, by service and method.",
        "reqps",
      )
        .gridPos({ h: 8, w: 12, x: 0, y: 23 })
        .withTarget(
          query(`sum by (service, method) (rate(dzug_balancer_retries_total{${SVC}}[1m]))`, "{{service}} {{method}}"),
        ),
    )
    .withPanel(
      timeseries(
        "Failed picks per second",
        "Calls that failed after every attempt (or found no instance), by service, method and code.",
        "reqps",
      )
        .gridPos({ h: 8, w: 12, x: 12, y: 23 })
        .withTarget(
          query(
            `sum by (service, method, code) (rate(dzug_balancer_failures_total{${SVC}}[1m]))`,
            "{{service}} {{method}} {{code}}",
          ),
        ),
    )
    .withRow(new RowBuilder("RPC latency"))
    .withPanel(
      timeseries(
        "RPC latency p99 per instance",
        "Client-side p99 of dzug_rpc_client_duration_seconds per picked instance: a slow instance stands out.",
        "s",
      )
        .gridPos({ h: 9, w: 12, x: 0, y: 32 })
        .withTarget(
          query(
            `histogram_quantile(0.99, sum by (service, upstream, le) (rate(dzug_rpc_client_duration_seconds_bucket{${SVC}}[5m])))`,
            "{{service}} → {{upstream}}",
          ),
        ),
    )
    .withPanel(
      timeseries("RPC rate per instance by code", "Client-side RPCs per second per instance and status code.", "reqps")
        .gridPos({ h: 9, w: 12, x: 12, y: 32 })
        .withTarget(
          query(
            `sum by (service, upstream, code) (rate(dzug_rpc_client_duration_seconds_count{${SVC}}[1m]))`,
            "{{service}} → {{upstream}} {{code}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        "Server-side latency p99 by method",
        "p99 of dzug_rpc_server_duration_seconds as the services measure it.",
        "s",
      )
        .gridPos({ h: 9, w: 24, x: 0, y: 41 })
        .withTarget(
          query(
            `histogram_quantile(0.99, sum by (service, method, le) (rate(dzug_rpc_server_duration_seconds_bucket{${SVC}}[5m])))`,
            "{{service}} {{method}}",
          ),
        ),
    )
    .withRow(new RowBuilder("Load-aware balancing"))
    .withPanel(
      timeseries(
        "Share of picks per instance by strategy",
        "Each instance's fraction of its service's picks under each strategy in use (balancer.strategy, services.<svc>.strategy). p2c-ewma and least-request move share away from a slow instance; random and round-robin keep 1/N.",
        "percentunit",
      )
        .max(1)
        .gridPos({ h: 9, w: 12, x: 0, y: 51 })
        .withTarget(
          query(
            `sum by (service, strategy, upstream) (rate(dzug_balancer_picks_total{${SVC}}[5m])) / ignoring(upstream) group_left sum by (service, strategy) (rate(dzug_balancer_picks_total{${SVC}}[5m]))`,
            "{{service}} {{strategy}} → {{upstream}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        "Calls in flight per instance",
        "Attempts in flight to each instance, summed over the callers (dzug_balancer_inflight): what least-request compares, and p2c-ewma's multiplier.",
        "short",
      )
        .gridPos({ h: 9, w: 12, x: 12, y: 51 })
        .withTarget(query(`sum by (service, upstream) (dzug_balancer_inflight{${SVC}})`, "{{service}} → {{upstream}}")),
    )
    .withPanel(
      timeseries(
        "Latency estimate per instance (peak EWMA)",
        "The highest over the callers of each instance's peak-EWMA attempt latency (dzug_balancer_latency_ewma_seconds): it jumps on a slow answer and decays over balancer.ewmaDecayMs.",
        "s",
      )
        .gridPos({ h: 9, w: 12, x: 0, y: 60 })
        .withTarget(
          query(
            `max by (service, upstream) (dzug_balancer_latency_ewma_seconds{${SVC}})`,
            "{{service}} → {{upstream}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        "Score per instance by strategy",
        "The strategy's score of each instance, highest over the callers (dzug_balancer_score; lower is picked first): p2c-ewma latency x (in-flight + 1) / weight, least-request (in-flight + 1)^bias / weight. Empty while only random, weighted-random or round-robin are in use.",
        "short",
      )
        .gridPos({ h: 9, w: 12, x: 12, y: 60 })
        .withTarget(
          query(
            `max by (service, strategy, upstream) (dzug_balancer_score{${SVC}})`,
            "{{service}} {{strategy}} → {{upstream}}",
          ),
        ),
    );
}

export function gatewayDashboard(): DashboardBuilder {
  // Only API traffic is counted: probes, scrapes and the status page are on the admin port.
  const route = 'route=~"$route"';
  return new DashboardBuilder("dzug / Gateway")
    .uid("dzug-gateway")
    .description("HTTP gateway RED by route: rate, errors, p99 duration.")
    .tags(["dzug", "http", "generated"])
    .editable()
    .refresh("10s")
    .time({ from: "now-30m", to: "now" })
    .timezone("browser")
    .withVariable(datasourceVariable())
    .withVariable(labelVariable("route", "Route", "dzug_http_requests_total"))
    .withRow(new RowBuilder("RED by route"))
    .withPanel(
      timeseries("Request rate by route", "HTTP requests per second by route.", "reqps")
        .gridPos({ h: 9, w: 12, x: 0, y: 1 })
        .withTarget(query(`sum by (route) (rate(dzug_http_requests_total{${route}}[1m]))`, "{{route}}")),
    )
    .withPanel(
      timeseries("Errors by route", "5xx responses per second by route and status.", "reqps")
        .gridPos({ h: 9, w: 12, x: 12, y: 1 })
        .withTarget(
          query(
            `sum by (route, status) (rate(dzug_http_requests_total{${route}, status=~"5.."}[1m]))`,
            "{{route}} {{status}}",
          ),
        ),
    )
    .withPanel(
      timeseries("Error ratio by route", "Share of 5xx responses per route.", "percentunit")
        .max(1)
        .gridPos({ h: 9, w: 12, x: 0, y: 10 })
        .withTarget(
          query(
            `sum by (route) (rate(dzug_http_requests_total{${route}, status=~"5.."}[5m])) / sum by (route) (rate(dzug_http_requests_total{${route}}[5m]))`,
            "{{route}}",
          ),
        ),
    )
    .withPanel(
      timeseries("Duration p99 by route", "p99 of dzug_http_request_duration_seconds by route.", "s")
        .gridPos({ h: 9, w: 12, x: 12, y: 10 })
        .withTarget(
          query(
            `histogram_quantile(0.99, sum by (route, le) (rate(dzug_http_request_duration_seconds_bucket{${route}}[5m])))`,
            "{{route}}",
          ),
        ),
    )
    .withPanel(
      timeseries("Responses by status", "All responses per second by status code.", "reqps")
        .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal).group("A"))
        .gridPos({ h: 9, w: 24, x: 0, y: 19 })
        .withTarget(query(`sum by (status) (rate(dzug_http_requests_total{${route}}[1m]))`, "{{status}}")),
    );
}

/** File name (in charts/dzug/dashboards) -> its exact JSON text. */
export function renderDashboards(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file, builder] of [
    ["balancing.json", balancingDashboard()],
    ["gateway.json", gatewayDashboard()],
  ] as const) {
    out.set(file, `${JSON.stringify(builder.build(), null, 2)}\n`);
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [file, text] of renderDashboards()) {
    const path = join(DASHBOARD_DIR, file);
    if (check) {
      let current = "";
      try {
        current = readFileSync(path, "utf8");
      } catch {}
      if (current !== text) {
        stale++;
        process.stderr.write(`${path} is stale: run node scripts/dashboards.ts\n`);
      }
    } else {
      writeFileSync(path, text);
      process.stdout.write(`wrote ${path}\n`);
    }
  }
  if (stale > 0) process.exit(1);
}
