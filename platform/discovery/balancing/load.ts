// What load-aware strategies read of an instance, fed from where each call attempt ends (client.ts
// through pool.ts: acquire, then release with the attempt's latency). One LoadStats per pool entry,
// shared by every client of that service in this process, so in-flight counts are the process's own.
//
// The latency estimate is Finagle's peak EWMA (also go-zero's p2c_ewma): a sample above the current
// cost replaces it at once (a slow instance is noticed on its first slow answer), a lower one is
// averaged in with a weight that depends on the time since the last update, not on the number of
// samples: cost decays by e^(-Δt/τ), τ = decayMs (Finagle's and go-zero's default: 10 s). The cost
// read at pick time is decayed the same way, so an instance nobody picks any more (because it was
// slow) looks cheaper as time passes and is tried again (Finagle's `observe(0)` on read).

/** Clock of the load stats and strategies: milliseconds, monotonic (performance.now()). */
export type Millis = number;

/** Slow start (Envoy's slow_start_config): a new instance's weight ramps up over `windowMs`. */
export interface SlowStartOptions {
  /** 0 turns slow start off. */
  windowMs: number;
  /** Curve: weight × (t / window)^(1 / aggression); 1 is linear, larger ramps faster at first. */
  aggression: number;
  /** The least share of its weight an instance gets while ramping, in percent. */
  minWeightPercent: number;
}

export const SLOW_START_DEFAULTS: SlowStartOptions = { windowMs: 0, aggression: 1, minWeightPercent: 10 };

/** Defaults of the load-aware strategies' knobs (the `balancer.*` config keys default to these). */
export const LOAD_DEFAULTS = {
  /** τ of the peak EWMA (ms). */
  decayMs: 10_000,
  /** p2c-ewma: the loser of a comparison not picked for this long is picked anyway (go-zero's forcePick). */
  forcePickMs: 1_000,
  /** least-request: Envoy's active_request_bias: weight / (active + 1)^bias. */
  leastRequestBias: 1,
} as const;

export class LoadStats {
  /** Attempts in flight from this process. */
  inflight = 0;
  /** Peak EWMA of attempt latency in ms at `stamp`; 0 until the first answer (a cold instance). */
  ewma = 0;
  stamp: Millis = 0;
  /** When a strategy last picked this instance (p2c-ewma's force pick). */
  lastPick: Millis = 0;
  /** When the instance started, on the performance.now() clock (slow start). */
  readonly since: Millis;
  private readonly decayMs: number;

  constructor(since: Millis, decayMs: number = LOAD_DEFAULTS.decayMs) {
    this.since = since;
    this.decayMs = decayMs;
  }

  /** Feeds one attempt's latency, ended at `now`. */
  observe(latencyMs: number, now: Millis): void {
    const rtt = Math.max(latencyMs, 0.001); // > 0: answered once, no longer cold
    if (this.ewma === 0) this.ewma = rtt;
    else {
      const cur = this.cost(now);
      if (rtt > cur) this.ewma = rtt;
      else {
        const w = Math.exp(-Math.max(0, now - this.stamp) / this.decayMs);
        this.ewma = cur * w + rtt * (1 - w);
      }
    }
    this.stamp = now;
  }

  /** The latency estimate at `now`, decayed since the last update (0: cold). */
  cost(now: Millis): number {
    if (this.ewma === 0) return 0;
    const td = now - this.stamp;
    return td > 0 ? this.ewma * Math.exp(-td / this.decayMs) : this.ewma;
  }
}

/** When `startedAt` (an ISO time from the record) was, on the performance.now() clock; never later than now. */
export function sinceOf(startedAt: string, nowEpoch = Date.now(), nowMono = performance.now()): Millis {
  const t = Date.parse(startedAt);
  const age = Number.isFinite(t) ? Math.max(0, nowEpoch - t) : 0;
  return nowMono - age;
}

/**
 * Envoy's slow start factor at `now` for an instance that started at `since`: 1 once the window is
 * over, else max((t / window)^(1 / aggression), minWeightPercent / 100).
 */
export function slowStartFactor(o: SlowStartOptions, since: Millis, now: Millis): number {
  if (o.windowMs <= 0) return 1;
  const t = now - since;
  if (t >= o.windowMs) return 1;
  const ramp = t <= 0 ? 0 : (t / o.windowMs) ** (1 / o.aggression);
  return Math.max(ramp, o.minWeightPercent / 100);
}
