// InstancePool: one long-lived gRPC channel per live instance of one service (and, with the http2
// transport, one HTTP/2 session beside it for the flat path: h2-session.ts).
// Channels open when an instance appears and close when it leaves, but never under an in-flight
// call: a leaving instance's channel is closed when its last call ends.
import type { Channel, ChannelOptions } from "@grpc/grpc-js";
import { createChannel, type Status } from "nice-grpc";
import type { Logger } from "pino";
import { deadlineChannel } from "../../deadline.ts";
import type { DiscoveryMetrics } from "../metrics.ts";
import type { InstanceRecord } from "../registry/record.ts";
import type { ServiceWatcher } from "../registry/watcher.ts";
import { H2Session, type H2SessionOptions, h2SessionOptions } from "../transport/h2-session.ts";
import type { TransportName } from "../transport/transport.ts";
import type { Balancer, Picker } from "./balancer.ts";
import { entryCandidate, failing, type PoolEntry } from "./entry.ts";
import { InstanceSeries } from "./instance-series.ts";
import { LOAD_DEFAULTS, LoadStats, type Millis, sinceOf } from "./load.ts";
import { EJECTION_DEFAULTS, type EjectionOptions, OutlierDetector } from "./outlier.ts";
import { ZONE_DEFAULTS, type ZoneOptions, ZonePreference } from "./zone.ts";

const NOTHING: ReadonlySet<string> = new Set();

export const defaultChannelOptions: ChannelOptions = {
  // A killed instance is retried at most every 5 s instead of grpc-js' default up to 120 s.
  "grpc.initial_reconnect_backoff_ms": 250,
  "grpc.max_reconnect_backoff_ms": 5_000,
  // Notice a silently dead peer on an open connection.
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 5_000,
  // A list answer of relation's lists.maxLength (100,000 by default, ~200 bytes each) is past grpc-js'
  // 4 MiB default; the sender is our own service, so accept up to 64 MiB.
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
};

export class InstancePool {
  readonly service: string;
  private readonly watcher: ServiceWatcher;
  private readonly log: Logger;
  private readonly m: DiscoveryMetrics;
  private readonly channelOptions: ChannelOptions;
  /** Set with the http2 transport: each entry gets an H2Session with these options. */
  private readonly sessionOptions: H2SessionOptions | undefined;
  private entries = new Map<string, PoolEntry>();
  /** id -> address of records that could not be dialled (reported once per address). */
  private readonly undialable = new Map<string, string>();
  /** Per live instance id: its series (instance-series.ts); an id's series leave with it. */
  private readonly series = new Map<string, InstanceSeries>();
  private list: PoolEntry[] = [];
  /** Pickers over `list`, per balancer; dropped whenever the instance set (or a weight) changes. */
  private pickers = new WeakMap<Balancer, Picker<PoolEntry>>();
  /** The same over the caller's zone only (zone preference on). */
  private localPickers = new WeakMap<Balancer, Picker<PoolEntry>>();
  private readonly zone: ZonePreference;
  private readonly decayMs: number;
  private closed = false;
  private readonly outliers: OutlierDetector;
  private readonly onChange = (records: InstanceRecord[]) => this.sync(records);

  constructor(opts: {
    service: string;
    watcher: ServiceWatcher;
    logger: Logger;
    metrics: DiscoveryMetrics;
    channelOptions?: ChannelOptions;
    ejection?: EjectionOptions;
    transport?: TransportName;
    /** τ of the latency estimate (load.ts). */
    decayMs?: number;
    /** Zone preference (zone.ts); off when absent. */
    zone?: ZoneOptions;
  }) {
    this.service = opts.service;
    this.watcher = opts.watcher;
    this.log = opts.logger.child({ component: "pool", service: opts.service });
    this.m = opts.metrics;
    this.channelOptions = { ...defaultChannelOptions, ...opts.channelOptions };
    this.sessionOptions = opts.transport === "http2" ? h2SessionOptions(this.channelOptions) : undefined;
    this.outliers = new OutlierDetector(opts.ejection ?? EJECTION_DEFAULTS, {
      service: opts.service,
      logger: this.log,
    });
    this.decayMs = opts.decayMs ?? LOAD_DEFAULTS.decayMs;
    this.zone = new ZonePreference(opts.zone ?? ZONE_DEFAULTS);
    this.watcher.on("change", this.onChange);
    this.sync(this.watcher.instances());
  }

  /** Until the watcher's first list: a promise of it (a pick waits for it, first-list.ts); then undefined. */
  firstList(): Promise<void> | undefined {
    return this.watcher.ready ? undefined : this.watcher.start();
  }

  /** Live entries, in the watcher's order. */
  live(): readonly PoolEntry[] {
    return this.list;
  }

  /**
   * Picks an entry not in `exclude`, preferring instances whose channel is not in
   * TRANSIENT_FAILURE (a killed-but-registered instance is skipped while others are healthy) and, with
   * zone preference on, instances of the caller's zone (zone.ts); counts the pick. `now`:
   * performance.now() of the attempt (the clock is read once per attempt, by the caller).
   */
  pick(balancer: Balancer, exclude: ReadonlySet<string>, now: Millis): PoolEntry | undefined {
    const all = this.list;
    if (all.length === 0) return undefined;
    let filter = exclude.size > 0;
    let local = false;
    if (this.zone.active) {
      let localUsable = 0;
      for (let i = 0; i < all.length; i++) {
        const e = all[i] as PoolEntry;
        if (failing(e)) filter = true;
        else if (e.local && !exclude.has(e.record.id)) localUsable++;
      }
      local = this.zone.preferLocal(localUsable);
    } else {
      for (let i = 0; i < all.length && !filter; i++) filter = failing(all[i] as PoolEntry);
    }
    let entry: PoolEntry | undefined;
    if (!filter) {
      // The common case: nothing tried yet, every channel usable. No allocation.
      const cache = local ? this.localPickers : this.pickers;
      let picker = cache.get(balancer);
      if (!picker) {
        picker = balancer.picker(local ? all.filter((e) => e.local) : all, entryCandidate);
        cache.set(balancer, picker);
      }
      entry = picker.pick(NOTHING, now);
    } else {
      const usable = (e: PoolEntry) => !exclude.has(e.record.id) && !failing(e);
      let healthy = local ? all.filter((e) => e.local && usable(e)) : [];
      if (healthy.length === 0) healthy = all.filter(usable);
      entry = balancer.picker(healthy.length > 0 ? healthy : all, entryCandidate).pick(exclude, now);
    }
    if (!entry) return undefined;
    entry.picks++;
    entry.series.pick(balancer.name);
    return entry;
  }

  acquire(entry: PoolEntry): void {
    entry.load.inflight++;
    if (entry.local) this.zone.inflight++;
  }

  /** How a call to `entry` ended (`undefined`: OK), for outlier ejection. */
  outcome(entry: PoolEntry, code: Status | undefined): void {
    this.outliers.record(entry, code);
  }

  /**
   * The attempt on `entry` ended at `now` after `latencyMs` (undefined: abandoned by the caller, not a
   * measure of the instance): feeds the load-aware strategies (load.ts).
   */
  release(entry: PoolEntry, now: Millis, latencyMs: number | undefined): void {
    entry.load.inflight--;
    if (entry.local) this.zone.inflight--;
    if (latencyMs !== undefined) entry.load.observe(latencyMs, now);
    if (entry.removed && entry.load.inflight <= 0) this.closeChannel(entry);
  }

  private sync(records: readonly InstanceRecord[]): void {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const rec of records) {
      const cur = this.entries.get(rec.id);
      if (cur && cur.record.address === rec.address && cur.local === this.zone.isLocal(rec.zone)) {
        seen.add(rec.id);
        cur.record = rec; // same address: keep the channel, take the new weight/zone/version
        continue;
      }
      if (cur) {
        this.entries.delete(rec.id);
        this.retire(cur);
      }
      const opened = this.open(rec);
      if (!opened) continue;
      seen.add(rec.id);
      this.entries.set(rec.id, { ...opened, picks: cur?.picks ?? 0, series: this.seriesOf(rec.id) });
      this.log.debug({ instance: rec.id, address: rec.address }, "channel opened");
    }
    for (const id of this.undialable.keys()) if (!records.some((r) => r.id === id)) this.undialable.delete(id);
    for (const [id, e] of this.entries) {
      if (!seen.has(id)) {
        this.entries.delete(id);
        this.retire(e);
      }
    }
    // Left the live set (deregistered, lease expired, or no longer dialable): its series leave /metrics
    // with it. An ejected or unreachable instance that is still registered keeps them.
    for (const [id, s] of this.series) {
      if (!seen.has(id)) {
        s.remove();
        this.series.delete(id);
      }
    }
    this.list = [...this.entries.values()];
    this.pickers = new WeakMap();
    this.localPickers = new WeakMap();
    this.zone.sync(this.list);
  }

  /**
   * The channel (and http2 session) of a new instance, or undefined when its address cannot be dialled:
   * grpc-js and node:http2 throw synchronously on some targets (ERR_INVALID_URL). Records are validated
   * (address.ts), so this is the last line: such an instance is logged once, counted and skipped, and
   * sync goes on with the others. It runs inside etcd3's watch event; a throw would end the process.
   */
  private open(rec: InstanceRecord): Omit<PoolEntry, "picks" | "series"> | undefined {
    let channel: Channel | undefined;
    try {
      // deadlineChannel: calls carry the current deadline as grpc-timeout (platform/deadline.ts).
      channel = deadlineChannel(createChannel(rec.address, undefined, this.channelOptions));
      const session = this.sessionOptions && new H2Session(rec.address, this.sessionOptions, this.log);
      this.undialable.delete(rec.id);
      return {
        record: rec,
        channel,
        session,
        load: new LoadStats(sinceOf(rec.startedAt), this.decayMs),
        local: this.zone.isLocal(rec.zone),
        removed: false,
        ejected: false,
      };
    } catch (err) {
      try {
        channel?.close();
      } catch {
        // never opened
      }
      if (this.undialable.get(rec.id) !== rec.address) {
        this.undialable.set(rec.id, rec.address);
        this.m.undialable.inc({ service: this.service });
        this.log.warn({ instance: rec.id, address: rec.address, err }, "cannot dial instance record; skipped");
      }
      return undefined;
    }
  }

  private seriesOf(id: string): InstanceSeries {
    let s = this.series.get(id);
    if (!s) {
      s = new InstanceSeries(this.m, this.service, id);
      this.series.set(id, s);
    }
    return s;
  }

  /** How many instances this pool keeps channels and series for (bounded by the live set). */
  sizes(): { entries: number; series: number } {
    return { entries: this.entries.size, series: this.series.size };
  }

  private retire(e: PoolEntry): void {
    e.removed = true;
    this.outliers.forget(e);
    if (e.load.inflight <= 0) this.closeChannel(e);
  }

  private closeChannel(e: PoolEntry): void {
    e.session?.close();
    try {
      e.channel.close();
      this.log.debug({ instance: e.record.id }, "channel closed");
    } catch {
      // already closed
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.off("change", this.onChange);
    for (const e of this.entries.values()) this.retire(e);
    this.entries.clear();
    this.list = [];
  }
}
