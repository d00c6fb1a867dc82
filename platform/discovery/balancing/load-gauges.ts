// The load-aware strategies' view of each instance as gauges, read from the pools at scrape time
// (prom-client's collect): nothing is set on the request path, and the series are exactly the live
// instances of the moment, so an instance that leaves takes its series with it (bounded like
// instance-series.ts' series, without a removal step).
import { Gauge, type Registry } from "prom-client";

export interface LoadRow {
  service: string;
  upstream: string;
  strategy: string;
  inflight: number;
  latencySeconds: number;
  /** The strategy's score; undefined when it has none or the instance is cold. */
  score: number | undefined;
}

/** Registers the gauges on `registry` (once per registry; a second call keeps the first reader). */
export function registerLoadGauges(registry: Registry, rows: () => Iterable<LoadRow>): void {
  if (registry.getSingleMetric("dzug_balancer_inflight")) return;
  // The registry collects metrics in registration order: the first one's collect fills all three.
  const gauges: { latency?: Gauge<"service" | "upstream">; score?: Gauge<"service" | "upstream" | "strategy"> } = {};
  new Gauge({
    name: "dzug_balancer_inflight",
    help: "Attempts this process has in flight to each instance (what least-request and p2c-ewma compare)",
    labelNames: ["service", "upstream"] as const,
    registers: [registry],
    collect() {
      const { latency, score } = gauges;
      this.reset();
      latency?.reset();
      score?.reset();
      for (const r of rows()) {
        const l = { service: r.service, upstream: r.upstream };
        this.set(l, r.inflight);
        latency?.set(l, r.latencySeconds);
        if (r.score !== undefined) score?.set({ ...l, strategy: r.strategy }, r.score);
      }
    },
  });
  gauges.latency = new Gauge({
    name: "dzug_balancer_latency_ewma_seconds",
    help: "Peak-EWMA attempt latency of each instance as this process sees it (0 until its first answer)",
    labelNames: ["service", "upstream"] as const,
    registers: [registry],
  });
  gauges.score = new Gauge({
    name: "dzug_balancer_score",
    help: "Each instance's score under its service's strategy (lower is picked first; p2c-ewma, least-request)",
    labelNames: ["service", "upstream", "strategy"] as const,
    registers: [registry],
  });
}
