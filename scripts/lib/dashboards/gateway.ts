// "dzug / Gateway": the HTTP API's RED by route, and the requests it refuses to protect itself (rate limits,
// load shedding). Only API traffic is counted: probes, scrapes and the status page are on the admin port.
import * as common from "@grafana/grafana-foundation-sdk/common";
import type { DashboardBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { dzugDashboard, labelVariable, query, RATE, type Row, sel, timeseries } from "./kit.ts";

const M = sel("namespace", "route");
const NS = sel("namespace");

function red(): Row {
  return {
    title: "RED by route",
    panels: [
      timeseries("Request rate by route", "HTTP requests per second by route.", "reqps").withTarget(
        query(`sum by (route) (rate(dzug_http_requests_total{${M}}[${RATE}]))`, "{{route}}"),
      ),
      timeseries("Errors by route", "5xx responses per second by route and status.", "reqps").withTarget(
        query(
          `sum by (route, status) (rate(dzug_http_requests_total{${M}, status=~"5.."}[${RATE}]))`,
          "{{route}} {{status}}",
        ),
      ),
      timeseries("Error ratio by route", "Share of 5xx responses per route.", "percentunit")
        .max(1)
        .withTarget(
          query(
            `sum by (route) (rate(dzug_http_requests_total{${M}, status=~"5.."}[${RATE}])) / sum by (route) (rate(dzug_http_requests_total{${M}}[${RATE}]))`,
            "{{route}}",
          ),
        ),
      timeseries("Duration p99 by route", "p99 of dzug_http_request_duration_seconds by route.", "s").withTarget(
        query(
          `histogram_quantile(0.99, sum by (route, le) (rate(dzug_http_request_duration_seconds_bucket{${M}}[${RATE}])))`,
          "{{route}}",
        ),
      ),
      timeseries("Responses by status", "All responses per second by status code.", "reqps", 24)
        .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal).group("A"))
        .withTarget(query(`sum by (status) (rate(dzug_http_requests_total{${M}}[${RATE}]))`, "{{status}}")),
    ],
  };
}

function protection(): Row {
  return {
    title: "Refused to protect the system",
    panels: [
      timeseries(
        "Rate-limited requests per second by limit",
        "Requests the gateway answered 429, by rate limit (config.rateLimit: per client address, per username). A login_failures limit that climbs is someone guessing passwords.",
        "reqps",
      ).withTarget(query(`sum by (limit) (rate(dzug_http_rate_limited_total{${NS}}[${RATE}]))`, "{{limit}}")),
      timeseries(
        "Shed requests per second by process and reason",
        "Requests (gateway) and RPCs (services) refused at once because the process was overloaded: in_flight (config.overload.maxInFlight reached) or event_loop (event-loop delay above config.overload.maxEventLoopDelayMs). Anything above 0 for long asks for replicas or CPU.",
        "reqps",
      ).withTarget(
        query(
          `sum by (dzug_service, reason) (rate(dzug_load_shed_total{${NS}}[${RATE}]))`,
          "{{dzug_service}} {{reason}}",
        ),
      ),
    ],
  };
}

export function gatewayDashboard(): DashboardBuilder {
  return dzugDashboard({
    title: "dzug / Gateway",
    uid: "dzug-gateway",
    description:
      "HTTP gateway RED by route: rate, errors, p99 duration; requests refused by rate limits and load shedding.",
    tags: ["http"],
    metric: "dzug_http_requests_total",
    variables: [labelVariable("route", "Route", "dzug_http_requests_total", NS)],
    rows: [red(), protection()],
  });
}
