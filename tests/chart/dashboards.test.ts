// Grafana dashboards: the committed JSON is what scripts/dashboards.ts generates, the chart ships each
// as a sidecar ConfigMap, and every query uses only metric names fixed in docs/architecture.md.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DASHBOARD_DIR, renderDashboards } from "../../scripts/dashboards.ts";
import { documentedMetricNames, REPO_ROOT, render } from "./helpers.ts";

const generated = renderDashboards();

/** The labels every dzug series carries (platform/metrics.ts setDefaultLabels): label names, not metrics. */
const DEFAULT_LABELS = new Set(
  [
    ...(
      /setDefaultLabels\(\{([^}]*)\}/.exec(readFileSync(join(REPO_ROOT, "platform", "metrics.ts"), "utf8"))?.[1] ?? ""
    ).matchAll(/(\w+):/g),
  ].map((m) => m[1] as string),
);

test("committed dashboards equal the generator's output (run node scripts/dashboards.ts)", () => {
  const committed = readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort();
  assert.deepEqual(committed, [...generated.keys()].sort());
  for (const [file, text] of generated) {
    assert.equal(readFileSync(join(DASHBOARD_DIR, file), "utf8"), text, `${file} is stale`);
  }
});

function exprs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) exprs(n, out);
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if ((k === "expr" || k === "definition") && typeof v === "string") out.push(v);
      else exprs(v, out);
    }
  }
  return out;
}

test("every panel query references only documented metric names", () => {
  const documented = documentedMetricNames(readFileSync(join(REPO_ROOT, "docs", "architecture.md"), "utf8"));
  assert.ok(documented.has("dzug_balancer_picks_total"), "metric names not found in docs/architecture.md");
  for (const [file, text] of generated) {
    const queries = exprs(JSON.parse(text));
    assert.ok(queries.length > 0, `${file} has no queries`);
    for (const q of queries) {
      for (const m of q.match(/\bdzug_[a-z0-9_]+/g) ?? []) {
        if (DEFAULT_LABELS.has(m)) continue;
        const base = m.replace(/_(bucket|sum|count)$/, "");
        assert.ok(documented.has(m) || documented.has(base), `${file}: ${m} is not in docs/architecture.md`);
      }
    }
  }
});

test("the required panels are there", () => {
  const all = [...generated.values()].flatMap((t) => exprs(JSON.parse(t))).join("\n");
  for (const needle of [
    /sum by \(service, upstream\) \(rate\(dzug_balancer_picks_total\{[^}]*\}\[\$__rate_interval\]\)\)/,
    /sum by \(service, upstream\) \(\(increase\(dzug_balancer_ejections_total/,
    /sum by \(limit\) \(rate\(dzug_http_rate_limited_total/,
    /sum by \(dzug_service, reason\) \(rate\(dzug_load_shed_total/,
    /group_left sum by \(service\) \(rate\(dzug_balancer_picks_total/,
    /dzug_discovery_instances/,
    /dzug_balancer_retries_total/,
    /dzug_balancer_failures_total/,
    /sum by \(route\) \(rate\(dzug_http_requests_total/,
    /status=~"5.."/,
    /histogram_quantile\(0\.99, sum by \(route, le\) \(rate\(dzug_http_request_duration_seconds_bucket/,
    /histogram_quantile\(0\.99, sum by \(service, upstream, le\) \(rate\(dzug_rpc_client_duration_seconds_bucket/,
  ]) {
    assert.match(all, needle);
  }
});

test("rate windows are $__rate_interval, never fixed; every query and variable is scoped by $namespace", () => {
  for (const [file, text] of generated) {
    const json = JSON.parse(text);
    const names = (json.templating?.list ?? []).map((v: { name: string }) => v.name);
    assert.ok(names.includes("namespace"), `${file}: no namespace variable`);
    for (const q of exprs(json)) {
      for (const m of q.matchAll(/\b(rate|irate|increase)\((?:[^()]|\([^()]*\))*?\[([^\]]+)\]/g))
        if (m[1] !== "increase") assert.equal(m[2], "$__rate_interval", `${file}: ${m[1]} over [${m[2]}] in ${q}`);
      if (q.startsWith("label_values(") && q.endsWith(", namespace)")) continue;
      for (const sel of q.match(/\bdzug_[a-z0-9_]+\{[^}]*\}/g) ?? [])
        assert.match(sel, /namespace=~"\$namespace"/, `${file}: ${sel} is not scoped by namespace`);
      for (const m of q.matchAll(/\b(dzug_[a-z0-9_]+)(?![a-z0-9_{])/g))
        assert.ok(DEFAULT_LABELS.has(m[1] as string), `${file}: ${m[1]} without a namespace matcher in ${q}`);
    }
  }
});

test("the chart ships each dashboard as a ConfigMap with the sidecar label", async () => {
  const objs = await render([
    "--set",
    "grafana.dashboards.labelKey=my_label",
    "--set",
    "grafana.dashboards.labelValue=yes",
  ]);
  const cms = objs.filter((o) => o.kind === "ConfigMap" && o.metadata.labels?.my_label === "yes");
  assert.equal(cms.length, generated.size);
  for (const cm of cms) {
    const [file, body] = Object.entries(cm.data as Record<string, string>)[0] ?? [];
    assert.ok(file && generated.has(file));
    assert.deepEqual(JSON.parse(body ?? ""), JSON.parse(generated.get(file) ?? ""));
  }
});
