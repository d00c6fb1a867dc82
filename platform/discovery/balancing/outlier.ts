// Outlier ejection (as Envoy's outlier detection): an instance whose calls fail several times in a row
// (UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED) leaves this client's rotation; after a back-off a probe
// (grpc.health.v1 Check, which answers SERVING only while the instance is ready) decides whether it
// comes back. No real request is spent on a trial, so an instance that is still broken fails nobody.
// The pool skips ejected instances while any other works (all ejected: all are tried, as before).
import { createClient, Status } from "nice-grpc";
import { HealthDefinition } from "nice-grpc-server-health";
import type { Logger } from "pino";
import { type BackoffOptions, backoffDelay } from "../../backoff.ts";
import type { PoolEntry } from "./entry.ts";

export interface EjectionOptions {
  /** Consecutive failures that eject an instance; 0 turns ejection off. */
  consecutiveFailures: number;
  /** Back-off before the first probe; doubles per failed probe up to maxMs (jittered). */
  baseMs: number;
  maxMs: number;
}

/** Defaults of the `balancer.ejection.*` config keys. */
export const EJECTION_DEFAULTS: EjectionOptions = { consecutiveFailures: 5, baseMs: 1_000, maxMs: 30_000 };

/** Codes that say the instance could not serve the call, not that the call was wrong. */
const FAILURE_CODES: ReadonlySet<Status> = new Set([Status.UNAVAILABLE, Status.INTERNAL, Status.DEADLINE_EXCEEDED]);

const PROBE_TIMEOUT_MS = 1_000;
/** grpc.health.v1 HealthCheckResponse.ServingStatus.SERVING (the enum is not exported by the package). */
const SERVING = 1;

interface State {
  failures: number;
  /** Failed probes since ejected: the back-off grows with it. */
  probes: number;
  timer?: NodeJS.Timeout;
}

export class OutlierDetector {
  private readonly states = new WeakMap<PoolEntry, State>();
  private readonly opts: EjectionOptions;
  private readonly backoff: BackoffOptions;
  private readonly ctx: { service: string; logger: Logger };

  constructor(opts: EjectionOptions, ctx: { service: string; logger: Logger }) {
    this.opts = opts;
    this.ctx = ctx;
    this.backoff = { initialMs: opts.baseMs, maxMs: opts.maxMs };
  }

  /** Records how a call to `entry` ended (`undefined`: OK); ejects after enough failures in a row. */
  record(entry: PoolEntry, code: Status | undefined): void {
    if (this.opts.consecutiveFailures <= 0 || entry.ejected || entry.removed) return;
    const s = this.stateOf(entry);
    if (code === undefined || !FAILURE_CODES.has(code)) {
      s.failures = 0;
      return;
    }
    if (++s.failures >= this.opts.consecutiveFailures) this.eject(entry, s);
  }

  /** Stops pending probes (the pool closes). */
  forget(entry: PoolEntry): void {
    const s = this.states.get(entry);
    if (s?.timer) clearTimeout(s.timer);
  }

  private stateOf(entry: PoolEntry): State {
    let s = this.states.get(entry);
    if (!s) {
      s = { failures: 0, probes: 0 };
      this.states.set(entry, s);
    }
    return s;
  }

  private eject(entry: PoolEntry, s: State): void {
    entry.ejected = true;
    s.probes = 0;
    entry.series.eject();
    this.ctx.logger.warn(
      { service: this.ctx.service, instance: entry.record.id, failures: s.failures },
      "instance ejected after consecutive failures",
    );
    this.scheduleProbe(entry, s);
  }

  private scheduleProbe(entry: PoolEntry, s: State): void {
    s.timer = setTimeout(() => void this.probe(entry, s), backoffDelay(this.backoff, s.probes));
    s.timer.unref();
  }

  private async probe(entry: PoolEntry, s: State): Promise<void> {
    if (entry.removed) return;
    let serving = false;
    try {
      const health = createClient(HealthDefinition, entry.channel);
      const r = await health.check({ service: "" }, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      serving = r.status === SERVING;
    } catch {
      serving = false;
    }
    if (entry.removed) return;
    if (!serving) {
      s.probes++;
      this.scheduleProbe(entry, s);
      return;
    }
    entry.ejected = false;
    s.failures = 0;
    this.ctx.logger.info(
      { service: this.ctx.service, instance: entry.record.id },
      "instance re-admitted after a probe",
    );
  }
}
