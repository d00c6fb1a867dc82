// Grafana dashboards as code (@grafana/grafana-foundation-sdk), generated into charts/dzug/dashboards/*.json.
// The chart ships each file as a ConfigMap for the Grafana dashboard sidecar.
//
//   node scripts/dashboards.ts          write the JSON files
//   node scripts/dashboards.ts --check  exit 1 if the committed files differ from what this produces
//
// The dashboards are in scripts/lib/dashboards/ (one file each, a list of rows of panels; kit.ts: what they
// share). Metric names are the ones fixed in docs/architecture.md (tests/chart/dashboards.test.ts checks that).
// Queries group by the metrics' own labels: `service` is the called service, `upstream` the picked instance
// (`instance` is Prometheus' target label, i.e. the process that was scraped: the monitors keep it); every
// query filters on the dashboard's namespace variable and uses $__rate_interval for rate windows.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { balancingDashboard } from "./lib/dashboards/balancing.ts";
import { gatewayDashboard } from "./lib/dashboards/gateway.ts";

export const DASHBOARD_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "charts", "dzug", "dashboards");

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
