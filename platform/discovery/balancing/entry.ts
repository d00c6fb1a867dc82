// One live instance as a calling process holds it: its record, its connection(s), its load and
// outlier state, its metric series. The pool (pool.ts) makes and drops entries; the strategies,
// the outlier detector and zone preference read them; nothing here imports the pool.
import { type Channel, connectivityState } from "@grpc/grpc-js";
import type { InstanceRecord } from "../registry/record.ts";
import type { H2Session } from "../transport/h2-session.ts";
import type { Candidate } from "./balancer.ts";
import type { InstanceSeries } from "./instance-series.ts";
import type { LoadStats } from "./load.ts";

export interface PoolEntry {
  record: InstanceRecord;
  /**
   * grpc-js channel: every call with the grpc-js transport, calls through nice-grpc middleware (tracing)
   * and health probes with either transport. Lazy: it connects on its first call.
   */
  readonly channel: Channel;
  /** The http2 transport's connection to the instance (undefined with the grpc-js transport). */
  readonly session: H2Session | undefined;
  /** In-flight attempts and the latency estimate, fed as attempts end (load.ts). */
  readonly load: LoadStats;
  /** In the caller's zone (zone.ts); false when zone preference is off. */
  readonly local: boolean;
  picks: number;
  removed: boolean;
  /** Out of rotation after consecutive failures until a health probe succeeds (outlier.ts). */
  ejected: boolean;
  /** The instance's metric series in this process (shared by its entries; removed when its id leaves). */
  readonly series: InstanceSeries;
}

/** Built once per entry and picker rebuild: the strategy reads `load` live through it. */
export const entryCandidate = (e: PoolEntry): Candidate => ({ id: e.record.id, weight: e.record.weight, load: e.load });
/**
 * Skipped while others work: an ejected instance (outlier.ts), or one whose channel is in
 * TRANSIENT_FAILURE (e.g. killed but still registered).
 */
export function failing(e: PoolEntry): boolean {
  if (e.ejected) return true;
  const state = e.session ? e.session.state : e.channel.getConnectivityState(false);
  return state === connectivityState.TRANSIENT_FAILURE;
}

/** The connectivity state of the connection the entry's calls take (the session's with http2). */
export function entryStateName(e: PoolEntry): string {
  const state = e.session ? e.session.state : e.channel.getConnectivityState(false);
  return connectivityState[state] ?? "UNKNOWN";
}
