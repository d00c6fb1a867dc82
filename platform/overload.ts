// Load shedding: refuse work fast instead of queueing it when the process is overloaded, as go-zero's
// adaptive shedder and Envoy's overload manager do. Two signals, each a config key (0 turns it off):
// - requests in flight at or above `maxInFlight` (a hard bound on concurrent work and its memory);
// - the event loop lagging: the p99 of its delay over the last window above `maxEventLoopDelayMs`
//   while work is in flight (a CPU-bound process answers everything late; refusing some lets the rest
//   finish in time).
// The gateway answers a shed request 503 with Retry-After, a service RESOURCE_EXHAUSTED (which the
// gateway also maps to 503, and which neither retries nor ejects the instance).
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Registry } from "prom-client";
import { z } from "zod";
import { counter } from "./metrics.ts";

export const overloadSection = z
  .strictObject({
    /** Requests (gateway) or calls (services) in flight at once; more are refused at once. 0: no bound. */
    maxInFlight: z.number().int().min(0).default(1_000),
    /** Refuse new work while the event loop's p99 delay exceeds this; 0: off. */
    maxEventLoopDelayMs: z.number().int().min(0).default(1_000),
  })
  .prefault({});

export type OverloadOptions = z.infer<typeof overloadSection>;

/** How often the event-loop delay window is read and reset. */
const WINDOW_MS = 500;

export type ShedReason = "in_flight" | "event_loop";

export class LoadShedder {
  private inFlight = 0;
  private lagMs = 0;
  private readonly opts: OverloadOptions;
  private readonly histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly shed: ReturnType<typeof counter<"reason">>;

  constructor(opts: OverloadOptions, registry: Registry) {
    this.opts = opts;
    this.shed = counter(registry, {
      name: "dzug_load_shed_total",
      help: "Requests or calls refused at once because the process was overloaded, by signal",
      labelNames: ["reason"] as const,
    });
    for (const reason of ["in_flight", "event_loop"] as const) this.shed.inc({ reason }, 0);
    if (opts.maxEventLoopDelayMs > 0) {
      const h = monitorEventLoopDelay({ resolution: 20 });
      h.enable();
      this.histogram = h;
      this.timer = setInterval(() => {
        this.lagMs = h.percentile(99) / 1e6;
        h.reset();
      }, WINDOW_MS);
      this.timer.unref();
    }
  }

  /** Why new work must be refused now, or undefined (then the caller must call leave() when done). */
  enter(): ShedReason | undefined {
    const { maxInFlight, maxEventLoopDelayMs } = this.opts;
    let reason: ShedReason | undefined;
    if (maxInFlight > 0 && this.inFlight >= maxInFlight) reason = "in_flight";
    else if (maxEventLoopDelayMs > 0 && this.inFlight > 0 && this.lagMs > maxEventLoopDelayMs) reason = "event_loop";
    if (reason) {
      this.shed.inc({ reason });
      return reason;
    }
    this.inFlight++;
    return undefined;
  }

  leave(): void {
    this.inFlight--;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.histogram?.disable();
  }
}
