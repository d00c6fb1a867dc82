// Discovery: one per process. Owns one ServiceWatcher and one InstancePool per service, and makes
// balanced clients over them. Nothing here reads etcd on the request path.

import type { ChannelOptions } from "@grpc/grpc-js";
import type { Etcd3 } from "etcd3";
import type { Client, CompatServiceDefinition } from "nice-grpc";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { BALANCER_DEFAULTS, type Balancer, createBalancer, type StrategyName } from "./balancing/balancer.ts";
import { entryCandidate, entryStateName } from "./balancing/entry.ts";
import { LOAD_DEFAULTS, SLOW_START_DEFAULTS, type SlowStartOptions } from "./balancing/load.ts";
import { type LoadRow, registerLoadGauges } from "./balancing/load-gauges.ts";
import { EJECTION_DEFAULTS, type EjectionOptions } from "./balancing/outlier.ts";
import { InstancePool } from "./balancing/pool.ts";
import { ZONE_DEFAULTS, type ZoneOptions } from "./balancing/zone.ts";
import type { DeadlineCallOptions } from "./call-rules.ts";
import { type ClientOptions, createBalancedClient } from "./client.ts";
import { type DiscoveryMetrics, discoveryMetrics } from "./metrics.ts";
import type { InstanceRecord } from "./registry/record.ts";
import { ServiceWatcher } from "./registry/watcher.ts";
import type { TransportName } from "./transport/transport.ts";

export interface PoolSnapshot {
  service: string;
  stale: boolean;
  ready: boolean;
  strategy: StrategyName;
  /** `state`: the connectivity state of the channel (or http2 session) calls take, or EJECTED (outlier.ts). */
  instances: Array<{
    record: InstanceRecord;
    picks: number;
    state: string;
    /** Attempts in flight from this process. */
    inflight: number;
    /** The latency estimate (peak EWMA, load.ts) in ms; 0 until the first answer. */
    latencyMs: number;
    /** The strategy's score (lower is picked first); undefined when it compares none or the instance is cold. */
    score: number | undefined;
  }>;
}

/** Knobs of the load-aware strategies, slow start and zone preference (config balancer.*, discovery.zone). */
export interface BalancingOptions {
  decayMs: number;
  forcePickMs: number;
  leastRequestBias: number;
  slowStart: SlowStartOptions;
  zone: ZoneOptions;
}

export const BALANCING_DEFAULTS: BalancingOptions = {
  decayMs: LOAD_DEFAULTS.decayMs,
  forcePickMs: LOAD_DEFAULTS.forcePickMs,
  leastRequestBias: LOAD_DEFAULTS.leastRequestBias,
  slowStart: SLOW_START_DEFAULTS,
  zone: ZONE_DEFAULTS,
};

export interface DiscoveryOptions {
  etcd: Etcd3;
  prefix: string;
  logger: Logger;
  metrics: Registry;
  defaults?: ClientOptions;
  /** Outlier ejection of every pool (outlier.ts; EJECTION_DEFAULTS when absent). */
  ejection?: EjectionOptions;
  channelOptions?: ChannelOptions;
  /** How flat-path calls reach instances (pool.ts, transportNames); grpc-js when absent. */
  transport?: TransportName;
  /** BALANCING_DEFAULTS when absent. */
  balancing?: BalancingOptions;
}

export class Discovery {
  private readonly opts: DiscoveryOptions;
  private readonly m: DiscoveryMetrics;
  private readonly watchers = new Map<string, ServiceWatcher>();
  private readonly pools = new Map<string, InstancePool>();
  /** Per service: the balancer of its latest client (the status page's scores). */
  private readonly balancers = new Map<string, Balancer>();
  private readonly balancing: BalancingOptions;
  private closed = false;

  constructor(opts: DiscoveryOptions) {
    this.opts = opts;
    this.m = discoveryMetrics(opts.metrics);
    this.balancing = opts.balancing ?? BALANCING_DEFAULTS;
    // Gauges registered after collect-ordered metrics still see every pool: they read at scrape time.
    registerLoadGauges(opts.metrics, () => this.loadRows());
  }

  private *loadRows(): Iterable<LoadRow> {
    for (const s of this.snapshot()) {
      for (const i of s.instances) {
        yield {
          service: s.service,
          upstream: i.record.id,
          strategy: s.strategy,
          inflight: i.inflight,
          latencySeconds: i.latencyMs / 1000,
          score: i.score,
        };
      }
    }
  }

  /** The watcher of `service`, created and started on first use. */
  watch(service: string): ServiceWatcher {
    if (this.closed) throw new Error("Discovery is closed");
    let w = this.watchers.get(service);
    if (!w) {
      w = new ServiceWatcher({
        etcd: this.opts.etcd,
        prefix: this.opts.prefix,
        service,
        logger: this.opts.logger,
        metrics: this.opts.metrics,
      });
      this.watchers.set(service, w);
      void w.start();
    }
    return w;
  }

  private pool(service: string): InstancePool {
    let p = this.pools.get(service);
    if (!p) {
      p = new InstancePool({
        service,
        watcher: this.watch(service),
        logger: this.opts.logger,
        metrics: this.m,
        channelOptions: this.opts.channelOptions,
        transport: this.opts.transport,
        ejection: this.opts.ejection ?? EJECTION_DEFAULTS,
        decayMs: this.balancing.decayMs,
        zone: this.balancing.zone,
      });
      this.pools.set(service, p);
    }
    return p;
  }

  client<Def extends CompatServiceDefinition>(
    service: string,
    definition: Def,
    opts: ClientOptions = {},
  ): Client<Def, DeadlineCallOptions> {
    const d = this.opts.defaults ?? {};
    const strategy = opts.strategy ?? d.strategy ?? BALANCER_DEFAULTS.strategy;
    const maxAttempts = Math.max(1, opts.maxAttempts ?? d.maxAttempts ?? BALANCER_DEFAULTS.maxAttempts);
    const deadlineMs = opts.deadlineMs ?? d.deadlineMs ?? BALANCER_DEFAULTS.deadlineMs;
    const middleware = opts.middleware ?? d.middleware;
    const watcher = this.watch(service);
    const b = this.balancing;
    const balancer = createBalancer(strategy, {
      slowStart: b.slowStart,
      forcePickMs: b.forcePickMs,
      leastRequestBias: b.leastRequestBias,
    });
    this.balancers.set(service, balancer);
    return createBalancedClient(
      {
        service,
        pool: this.pool(service),
        metrics: this.m,
        logger: this.opts.logger,
        describeEmpty: () =>
          !watcher.ready
            ? "(discovery has not listed it from etcd yet)"
            : watcher.stale
              ? "(etcd unreachable; last known set is empty)"
              : `(none registered under ${this.opts.prefix}/${service}/)`,
      },
      definition,
      { strategy, maxAttempts, deadlineMs, middleware, balancer },
    );
  }

  snapshot(): PoolSnapshot[] {
    const out: PoolSnapshot[] = [];
    const now = performance.now();
    for (const [service, w] of this.watchers) {
      const pool = this.pools.get(service);
      const entries = pool ? pool.live() : [];
      const balancer = this.balancers.get(service);
      out.push({
        service,
        stale: w.stale,
        ready: w.ready,
        strategy: balancer?.name ?? this.opts.defaults?.strategy ?? BALANCER_DEFAULTS.strategy,
        instances: pool
          ? entries.map((e) => ({
              record: e.record,
              picks: e.picks,
              // EJECTED: out of this process's rotation after consecutive failures, until a probe succeeds.
              state: e.ejected ? "EJECTED" : entryStateName(e),
              inflight: e.load.inflight,
              latencyMs: e.load.cost(now),
              score: balancer?.score(entryCandidate(e), now),
            }))
          : w.instances().map((record) => ({
              record,
              picks: 0,
              state: "NO_CHANNEL",
              inflight: 0,
              latencyMs: 0,
              score: undefined,
            })),
      });
    }
    return out;
  }

  /** Per service: how many instances its pool holds channels and metric series for (the live set). */
  poolSizes(): Map<string, { entries: number; series: number }> {
    return new Map([...this.pools].map(([service, p]) => [service, p.sizes()]));
  }

  /** At least one live instance known (from the last successful list/watch, even if stale). */
  ready(service: string): boolean {
    const w = this.watchers.get(service) ?? this.watch(service);
    return w.instances().length > 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pools.values()) p.close();
    await Promise.all([...this.watchers.values()].map((w) => w.close()));
    this.pools.clear();
    this.watchers.clear();
  }
}
