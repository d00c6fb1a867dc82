// Zone preference (as Kubernetes' topology-aware routing and Envoy's zone-aware routing): calls go to
// instances in the caller's zone while there are enough usable ones and they are not overloaded;
// otherwise they spill to every zone. Off by default (`balancer.zone.preferLocal`).
// - "Usable": not ejected, channel not in TRANSIENT_FAILURE, not already tried by this call.
// - Too few: fewer usable local instances than `minInstances`.
// - Overloaded: this process's calls in flight to local instances reach `maxInFlightPerInstance` per
//   usable local instance (0: never spill for load).
// The caller's zone is `discovery.zone` (the same key an instance registers its own zone with).
import type { PoolEntry } from "./entry.ts";

export interface ZoneOptions {
  /** The caller's zone; "" turns zone preference off. */
  zone: string;
  preferLocal: boolean;
  minInstances: number;
  maxInFlightPerInstance: number;
}

export const ZONE_DEFAULTS: ZoneOptions = { zone: "", preferLocal: false, minInstances: 1, maxInFlightPerInstance: 0 };

export class ZonePreference {
  private readonly o: ZoneOptions;
  private readonly enabled: boolean;
  /** True while the live set has local instances: the pool then checks preferLocal per pick. */
  active = false;
  /** Calls in flight to local instances (the pool counts them as they start and end). */
  inflight = 0;

  constructor(o: ZoneOptions) {
    this.o = o;
    this.enabled = o.preferLocal && o.zone !== "";
  }

  isLocal(zone: string): boolean {
    return this.enabled && zone === this.o.zone;
  }

  /** Called when the live set changes. */
  sync(entries: readonly PoolEntry[]): void {
    this.active = this.enabled && entries.some((e) => e.local);
  }

  /** Whether this pick stays in the caller's zone, given how many local instances are usable. */
  preferLocal(localUsable: number): boolean {
    if (localUsable < Math.max(1, this.o.minInstances)) return false;
    const cap = this.o.maxInFlightPerInstance;
    return cap === 0 || this.inflight < cap * localUsable;
  }
}
