// The chart's PrometheusRule: the rendered groups pass `promtool check rules`, and `promtool test rules` proves
// each alert fires on the series dzug exports (names and labels as the code registers them, the target labels
// the monitors add) and stays quiet where it must: another namespace, a healthy ratio, a caller that still
// sees an instance, an old ejection, a shed counter at 0, a limit that refuses little.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { apiVersionArgs, CRD_APIS, NAMESPACE, render } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "dzug-alerts-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function promtool(args: string[]): { code: number | null; out: string } {
  const r = spawnSync("promtool", args, { cwd: dir, encoding: "utf8" });
  if (r.error) throw new Error(`promtool: ${r.error.message} (Debian: apt-get install -y prometheus)`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

async function renderRules(args: string[] = []): Promise<string> {
  const objs = await render([
    ...["--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.prometheusRule.alertLabels.team=platform"],
    ...args,
    ...apiVersionArgs([CRD_APIS.PrometheusRule]),
  ]);
  const rules = objs.filter((o) => o.kind === "PrometheusRule");
  assert.equal(rules.length, 1);
  const file = join(dir, "rules.yaml");
  writeFileSync(file, JSON.stringify({ groups: rules[0]?.spec.groups }, null, 2));
  return file;
}

const NS = `namespace="${NAMESPACE}"`;
const gw = `${NS}, dzug_service="gateway", pod="dzug-gateway-1"`;
const labels = (l: Record<string, string>) => ({ namespace: NAMESPACE, team: "platform", ...l });

/** promtool test cases: input series (1 sample a minute) and the alerts expected at each time. */
const TESTS = [
  {
    name: "5xx ratio: 10% fires after 5 minutes; another namespace at 50% and a 2% ratio do not",
    input_series: [
      {
        series: `dzug_http_requests_total{${gw}, route="/douyin/user/", method="GET", status="200"}`,
        values: "0+90x30",
      },
      {
        series: `dzug_http_requests_total{${gw}, route="/douyin/user/", method="GET", status="503"}`,
        values: "0+10x30",
      },
      {
        series: 'dzug_http_requests_total{namespace="other", dzug_service="gateway", status="503"}',
        values: "0+50x30",
      },
      {
        series: 'dzug_http_requests_total{namespace="other", dzug_service="gateway", status="200"}',
        values: "0+50x30",
      },
    ],
    alert_rule_test: [
      { eval_time: "4m", alertname: "DzugGatewayErrorRatioHigh", exp_alerts: [] },
      {
        eval_time: "10m",
        alertname: "DzugGatewayErrorRatioHigh",
        exp_alerts: [
          {
            exp_labels: labels({ severity: "critical" }),
            exp_annotations: {
              summary: "dzug API: 10% of requests answer 5xx",
              description: `More than 5% of the gateway's API requests in namespace ${NAMESPACE} have answered 5xx for 5 minutes. The Gateway dashboard shows which routes; the gateway's /_dzug/status which upstreams have no instance.`,
            },
          },
        ],
      },
    ],
  },
  {
    name: "a 2% 5xx ratio stays quiet",
    input_series: [
      { series: `dzug_http_requests_total{${gw}, status="200"}`, values: "0+98x30" },
      { series: `dzug_http_requests_total{${gw}, status="500"}`, values: "0+2x30" },
    ],
    alert_rule_test: [{ eval_time: "20m", alertname: "DzugGatewayErrorRatioHigh", exp_alerts: [] }],
  },
  {
    name: "no live instance: when no caller sees one, not while one caller still does",
    input_series: [
      { series: `dzug_discovery_instances{${gw}, service="message"}`, values: "2 2 0 0 0 0 0" },
      {
        series: `dzug_discovery_instances{${NS}, dzug_service="relation", service="message"}`,
        values: "2 2 0 0 0 0 0",
      },
      { series: `dzug_discovery_instances{${gw}, service="user"}`, values: "2 2 0 0 0 0 0" },
      { series: `dzug_discovery_instances{${NS}, dzug_service="relation", service="user"}`, values: "2 2 1 1 1 1 1" },
    ],
    alert_rule_test: [
      { eval_time: "2m", alertname: "DzugNoLiveInstances", exp_alerts: [] },
      {
        eval_time: "4m",
        alertname: "DzugNoLiveInstances",
        exp_alerts: [
          {
            exp_labels: labels({ severity: "critical", service: "message" }),
            exp_annotations: {
              summary: "dzug: no caller sees a live message instance",
              description: `Every caller of message in namespace ${NAMESPACE} has seen no registered instance for a minute: its routes answer 503. Check its pods (readiness names the dependency that is down) and etcd.`,
            },
          },
        ],
      },
    ],
  },
  {
    name: "discovery stale for 2 minutes",
    input_series: [{ series: `dzug_discovery_stale{${gw}, service="user"}`, values: "0 0 1 1 1 1 1" }],
    alert_rule_test: [
      { eval_time: "3m", alertname: "DzugDiscoveryStale", exp_alerts: [] },
      {
        eval_time: "5m",
        alertname: "DzugDiscoveryStale",
        exp_alerts: [
          {
            exp_labels: labels({ severity: "warning", dzug_service: "gateway", service: "user" }),
            exp_annotations: {
              summary: "dzug: gateway cannot reach etcd",
              description: `gateway in namespace ${NAMESPACE} has not reached etcd for 2 minutes and balances over its last known user instances: new and departed instances go unseen.`,
            },
          },
        ],
      },
    ],
  },
  {
    name: "ejections: a series born in the window counts (its first ejection), so do growth and a series gone since; an old one does not",
    input_series: [
      { series: `dzug_balancer_ejections_total{${gw}, service="user", upstream="user-a"}`, values: "_x8 1x10" },
      { series: `dzug_balancer_ejections_total{${gw}, service="user", upstream="user-b"}`, values: "1x9 3x10" },
      { series: `dzug_balancer_ejections_total{${gw}, service="user", upstream="user-c"}`, values: "1x20" },
      // Ejected at 5m, its registration gone at 9m (its series leave with it): still counted at 12m.
      { series: `dzug_balancer_ejections_total{${gw}, service="user", upstream="user-d"}`, values: "_x5 1x3 stale" },
    ],
    alert_rule_test: [
      {
        eval_time: "12m",
        alertname: "DzugInstanceEjected",
        exp_alerts: (
          [
            ["user-a", 1],
            ["user-b", 2],
            ["user-d", 1],
          ] as const
        ).map(([upstream, n]) => ({
          exp_labels: labels({ severity: "warning", service: "user", upstream }),
          exp_annotations: {
            summary: `dzug: user instance ${upstream} ejected by callers`,
            description: `Callers took ${upstream} (user, namespace ${NAMESPACE}) out of their rotation ${n} time(s) in 10 minutes after consecutive UNAVAILABLE/INTERNAL/DEADLINE_EXCEEDED failures; a health probe re-admits it. Look at that pod's logs and readiness.`,
          },
        })),
      },
    ],
  },
  {
    name: "load shedding sustained for 5 minutes; a reason still at 0 stays quiet",
    input_series: [
      {
        series: `dzug_load_shed_total{${NS}, dzug_service="user", pod="u1", reason="in_flight"}`,
        values: "0 0 60+60x10",
      },
      { series: `dzug_load_shed_total{${NS}, dzug_service="user", pod="u1", reason="event_loop"}`, values: "0x12" },
    ],
    alert_rule_test: [
      { eval_time: "5m", alertname: "DzugLoadShedding", exp_alerts: [] },
      {
        eval_time: "10m",
        alertname: "DzugLoadShedding",
        exp_alerts: [
          {
            exp_labels: labels({ severity: "warning", dzug_service: "user", reason: "in_flight" }),
            exp_annotations: {
              summary: "dzug: user sheds load (in_flight)",
              description: `user in namespace ${NAMESPACE} has refused 1 requests/s at once for 5 minutes because it is overloaded (in_flight: in_flight = config.overload.maxInFlight reached, event_loop = event-loop delay above config.overload.maxEventLoopDelayMs). Add replicas or CPU.`,
            },
          },
        ],
      },
    ],
  },
  {
    name: "rate limiting: one limit refusing 15% of requests for 10 minutes fires; one refusing 0.5% does not",
    input_series: [
      { series: `dzug_http_requests_total{${gw}, status="200"}`, values: "0+170x30" },
      { series: `dzug_http_requests_total{${gw}, status="429"}`, values: "0+30x30" },
      { series: `dzug_http_rate_limited_total{${gw}, limit="login_address"}`, values: "0+30x30" },
      { series: `dzug_http_rate_limited_total{${gw}, limit="register_address"}`, values: "0+1x30" },
    ],
    alert_rule_test: [
      { eval_time: "8m", alertname: "DzugRateLimitingHigh", exp_alerts: [] },
      {
        eval_time: "15m",
        alertname: "DzugRateLimitingHigh",
        exp_alerts: [
          {
            exp_labels: labels({ severity: "warning", limit: "login_address" }),
            exp_annotations: {
              summary: "dzug API: 15% of requests answered 429 by limit login_address",
              description: `More than 10% of the API requests in namespace ${NAMESPACE} have been refused by rate limit login_address for 10 minutes: an attack on the credentials routes, or a limit too tight for the clients behind one address (config.rateLimit, config.trustProxy).`,
            },
          },
        ],
      },
    ],
  },
];

test("the rendered PrometheusRule passes promtool check rules", async () => {
  const file = await renderRules();
  const r = promtool(["check", "rules", file]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: 6 rules found/);
});

test("promtool test rules: every alert fires on dzug's series and stays quiet where it must", async () => {
  const file = await renderRules();
  const spec = join(dir, "alerts-test.yaml");
  writeFileSync(
    spec,
    JSON.stringify(
      { rule_files: [file], evaluation_interval: "1m", tests: TESTS.map((t) => ({ interval: "1m", ...t })) },
      null,
      2,
    ),
  );
  const r = promtool(["test", "rules", spec]);
  assert.equal(r.code, 0, r.out);
});

test("the thresholds come from values: 4% of 5xx is quiet under the default 5%, fires at 3%", async () => {
  const series = [
    { series: `dzug_http_requests_total{${gw}, status="200"}`, values: "0+96x30" },
    { series: `dzug_http_requests_total{${gw}, status="503"}`, values: "0+4x30" },
  ];
  for (const threshold of [undefined, "0.03"]) {
    const file = await renderRules(threshold ? ["--set-json", `metrics.prometheusRule.errorRatio=${threshold}`] : []);
    const expected = threshold
      ? [
          {
            exp_labels: labels({ severity: "critical" }),
            exp_annotations: {
              summary: "dzug API: 4% of requests answer 5xx",
              description: `More than 3% of the gateway's API requests in namespace ${NAMESPACE} have answered 5xx for 5 minutes. The Gateway dashboard shows which routes; the gateway's /_dzug/status which upstreams have no instance.`,
            },
          },
        ]
      : [];
    const alert_rule_test = [{ eval_time: "15m", alertname: "DzugGatewayErrorRatioHigh", exp_alerts: expected }];
    const spec = join(dir, "threshold-test.yaml");
    writeFileSync(
      spec,
      JSON.stringify({ rule_files: [file], tests: [{ interval: "1m", input_series: series, alert_rule_test }] }),
    );
    const r = promtool(["test", "rules", spec]);
    assert.equal(r.code, 0, `errorRatio ${threshold ?? "default"}: ${r.out}`);
  }
});
