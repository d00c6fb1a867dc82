// The metric series one instance of a service owns in a calling process (picks, ejections, call
// durations), kept so that they leave with the instance: an instance that is deregistered (or whose
// lease expired) must not stay on /metrics forever, or every rollout and scale-down would grow the
// registry and the scrape. Children are cached because prom-client hashes the label object on every
// labelled call otherwise.
//
// Once removed, an instance's series stay removed: a call still in flight to it when it left ends
// without recording (prom-client would re-create the series on the next observe through a cached child).
import type { Counter, Histogram } from "prom-client";
import type { DiscoveryMetrics } from "../metrics.ts";

type DurationLabels = "service" | "method" | "upstream" | "code";

export class InstanceSeries {
  readonly service: string;
  readonly instance: string;
  private readonly m: DiscoveryMetrics;
  /** dzug_balancer_picks_total's children by strategy. */
  private readonly picks = new Map<string, Counter.Internal>();
  /** dzug_rpc_client_duration_seconds' children by "method" (OK) or "method code". */
  private readonly durations = new Map<
    string,
    { method: string; code: string; child: Histogram.Internal<DurationLabels> }
  >();
  private ejected = false;
  private removed = false;

  constructor(m: DiscoveryMetrics, service: string, instance: string) {
    this.m = m;
    this.service = service;
    this.instance = instance;
  }

  /** Counts one pick by `strategy`. */
  pick(strategy: string): void {
    if (this.removed) return;
    let child = this.picks.get(strategy);
    if (!child) {
      child = this.m.picks.labels({ service: this.service, upstream: this.instance, strategy });
      this.picks.set(strategy, child);
    }
    child.inc();
  }

  /** Observes one call attempt's duration. */
  observe(method: string, code: string, seconds: number): void {
    if (this.removed) return;
    const key = code === "OK" ? method : `${method} ${code}`;
    let d = this.durations.get(key);
    if (!d) {
      d = {
        method,
        code,
        child: this.m.clientDuration.labels({ service: this.service, method, upstream: this.instance, code }),
      };
      this.durations.set(key, d);
    }
    d.child.observe(seconds);
  }

  /** Counts one ejection (outlier.ts). */
  eject(): void {
    if (this.removed) return;
    this.ejected = true;
    this.m.ejections.inc({ service: this.service, upstream: this.instance });
  }

  /** Removes every series of this instance from the registry; later records are dropped. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    const { service, instance: upstream } = this;
    for (const strategy of this.picks.keys()) this.m.picks.remove({ service, upstream, strategy });
    for (const { method, code } of this.durations.values())
      this.m.clientDuration.remove({ service, method, upstream, code });
    if (this.ejected) this.m.ejections.remove({ service, upstream });
    this.picks.clear();
    this.durations.clear();
  }
}
