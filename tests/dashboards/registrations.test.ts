// The "Registrations (1h)" query over more than an hour of history, which the live test (panels.test.ts)
// cannot have: promtool's rule unit tests evaluate the dashboard's own expression on synthetic series.
// prom-client exports a label set only from its first increment, so a plain increase(...[1h]) would miss
// the event that created a series (a new instance's "registered", the first "lost"/"reregistered").
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DASHBOARD_DIR } from "../../scripts/dashboards.ts";

function registrationsExpr(): string {
  const dash = JSON.parse(readFileSync(join(DASHBOARD_DIR, "balancing.json"), "utf8")) as {
    panels: { title?: string; targets?: { expr?: string }[] }[];
  };
  const expr = dash.panels
    .flatMap((p) => p.targets ?? [])
    .find((t) => t.expr?.includes("dzug_discovery_registrations_total"))?.expr;
  assert.ok(expr, "no registrations query in balancing.json");
  return expr.replaceAll("$service", ".*").replaceAll("$namespace", ".*");
}

test("Registrations (1h) counts events of old, new and dead series, once each", (t) => {
  const promtool = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" }).stdout.trim();
  if (!promtool) return t.skip("promtool is not on PATH (Debian: apt-get install -y prometheus)");
  const m = (outcome: string, instance: string) =>
    `dzug_discovery_registrations_total{service="user",outcome="${outcome}",instance="${instance}"}`;
  // One sample a minute; evaluated at 100m, so the window is (40m, 100m].
  const series = [
    // a: registered long ago (not in the window), lost its lease at 81m and registered again at 86m.
    { series: m("registered", "a"), values: "1x100" },
    { series: m("lost", "a"), values: "_x80 1x20" },
    { series: m("reregistered", "a"), values: "_x85 1x15" },
    // b: an instance that started at 90m.
    { series: m("registered", "b"), values: "_x90 1x10" },
    // c: started at 50m and died at 70m (its series is stale at eval time).
    { series: m("registered", "c"), values: "_x50 1x20 stale" },
    // d: lived through the whole window with 2 losses inside it (counter exported at 0 from the start).
    { series: m("lost", "d"), values: "3x50 4x20 5x30" },
  ];
  const config = {
    evaluation_interval: "1m",
    tests: [
      {
        interval: "1m",
        input_series: series,
        promql_expr_test: [
          {
            expr: registrationsExpr(),
            eval_time: "100m",
            exp_samples: [
              { labels: '{service="user",outcome="registered"}', value: 2 }, // b and c, not a
              { labels: '{service="user",outcome="lost"}', value: 3 }, // a's first, d's 2
              { labels: '{service="user",outcome="reregistered"}', value: 1 },
            ],
          },
        ],
      },
    ],
  };
  const dir = mkdtempSync(join(tmpdir(), "dzug-promtool-"));
  try {
    const file = join(dir, "registrations.test.yml");
    writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
    const run = spawnSync(promtool, ["test", "rules", file], { encoding: "utf8", timeout: 30_000 });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
