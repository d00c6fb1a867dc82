// /_dzug/status: what discovery knows, readable without Grafana — JSON, or a small self-refreshing
// HTML page. Everything that reaches HTML is escaped (records come from etcd: treat them as untrusted).
import type { PoolSnapshot } from "../platform/discovery/index.ts";

export interface StatusInstance {
  id: string;
  address: string;
  version: string;
  weight: number;
  zone: string;
  startedAt: string;
  state: string;
  picks: number;
  /** picks of this instance / picks of its service, in percent (0 when nothing was picked yet). */
  share: number;
  /** Attempts the gateway has in flight to it. */
  inflight: number;
  /** Peak-EWMA latency the gateway sees, ms (0 until its first answer). */
  latencyMs: number;
  /** The strategy's score (lower is picked first); null for strategies that score nothing, or cold. */
  score: number | null;
}

export interface StatusService {
  service: string;
  discovery: "fresh" | "stale";
  ready: boolean;
  required: boolean;
  strategy: string;
  picks: number;
  instances: StatusInstance[];
}

export interface StatusView {
  generatedAt: string;
  shuttingDown: boolean;
  services: StatusService[];
}

export function statusJson(
  pools: readonly PoolSnapshot[],
  opts: { shuttingDown: boolean; required: readonly string[] },
): StatusView {
  const services: StatusService[] = pools.map((pool) => {
    const total = pool.instances.reduce((n, i) => n + i.picks, 0);
    return {
      service: pool.service,
      discovery: pool.stale ? "stale" : "fresh",
      ready: pool.ready,
      required: opts.required.includes(pool.service),
      strategy: pool.strategy,
      picks: total,
      instances: pool.instances.map((i) => ({
        id: i.record.id,
        address: i.record.address,
        version: i.record.version,
        weight: i.record.weight,
        zone: i.record.zone,
        startedAt: i.record.startedAt,
        state: i.state,
        picks: i.picks,
        share: total > 0 ? Math.round((i.picks / total) * 1000) / 10 : 0,
        inflight: i.inflight,
        latencyMs: Math.round(i.latencyMs * 100) / 100,
        score: i.score === undefined ? null : Number(i.score.toPrecision(4)),
      })),
    };
  });
  for (const svc of opts.required) {
    if (!services.some((s) => s.service === svc)) {
      services.push({
        service: svc,
        discovery: "stale",
        ready: false,
        required: true,
        strategy: "",
        picks: 0,
        instances: [],
      });
    }
  }
  services.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
  return { generatedAt: new Date().toISOString(), shuttingDown: opts.shuttingDown, services };
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

export function renderStatusHtml(view: StatusView): string {
  const e = escapeHtml;
  const sections = view.services
    .map((s) => {
      const rows =
        s.instances.length === 0
          ? `<tr><td colspan="12" class="none">no live instance</td></tr>`
          : s.instances
              .map(
                (i) =>
                  `<tr><td>${e(i.id)}</td><td>${e(i.address)}</td><td>${e(i.version)}</td><td class="n">${e(i.weight)}</td>` +
                  `<td>${e(i.zone || "-")}</td><td class="st-${e(i.state.toLowerCase())}">${e(i.state)}</td>` +
                  `<td class="n">${e(i.inflight)}</td><td class="n">${e(i.latencyMs.toFixed(2))}</td><td class="n">${e(i.score ?? "-")}</td>` +
                  `<td class="n">${e(i.picks)}</td><td class="n">${e(i.share.toFixed(1))}%</td>` +
                  // A percentage of an auto-sized cell would collapse it: the bar is 1.5 px per percent.
                  `<td><span class="bar" style="width:${e(Math.round(1.5 * Math.min(100, Math.max(0, i.share))))}px"></span></td></tr>`,
              )
              .join("\n");
      return (
        `<section><h2>${e(s.service)} <small class="${s.discovery === "fresh" ? "ok" : "bad"}">discovery ${e(s.discovery)}</small>` +
        ` <small>${s.ready ? "listed" : "not listed yet"} · strategy ${e(s.strategy || "-")} · ${e(s.picks)} picks</small></h2>\n` +
        `<table><thead><tr><th>instance</th><th>address</th><th>version</th><th>weight</th><th>zone</th><th>channel</th><th>in flight</th><th>latency ms</th><th>score</th><th>picks</th><th>share</th><th></th></tr></thead>\n` +
        `<tbody>\n${rows}\n</tbody></table></section>`
      );
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>dzug gateway status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em;min-width:60em}
th,td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17803d}.bad{color:#b91c1c}.none{color:#b91c1c;font-style:italic}
.st-ready{color:#17803d}.st-transient_failure,.st-shutdown,.st-ejected{color:#b91c1c}
.bar{display:inline-block;height:.7em;background:#3b82f6}
small{font-weight:normal;color:#555;margin-left:.6em}
</style></head><body>
<h1>dzug gateway</h1>
<p>${view.shuttingDown ? '<strong class="bad">shutting down</strong> · ' : ""}generated ${e(view.generatedAt)} · refreshes every 2 s · <a href="?format=json">JSON</a></p>
${sections}
</body></html>
`;
}
