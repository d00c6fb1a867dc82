// ServiceWatcher: the live set of one service's instances, from etcd, without reading etcd per request.
//
// Loop: range-get the service dir (snapshot at revision R), then watch from R+1 so nothing falls
// between the two. The watch is ours until it breaks: etcd3 v1.1.2 re-attaches a disconnected
// watch by itself, but from the revision of the last *header* it saw (the create response header,
// not the last event it delivered) and it surfaces a compaction only as a cancelled watch ('error').
// So on any 'disconnected', 'error' (compaction, cancel) or 'end', we drop the etcd3 watcher,
// re-list, diff against what we had, and watch again. While listing fails the last set stays, and
// the watcher is marked stale.
import { EventEmitter } from "node:events";
import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type BackoffOptions, backoffDelay, sleep, within } from "../../backoff.ts";
import { type DiscoveryMetrics, discoveryMetrics } from "../metrics.ts";
import { decodeRecord, type InstanceRecord, serviceDir } from "./record.ts";

export interface ServiceWatcherOptions {
  etcd: Etcd3;
  prefix: string;
  service: string;
  logger: Logger;
  metrics: Registry;
  backoff?: BackoffOptions;
  /** Deadline of each range-get; default 5000 ms. */
  listTimeoutMs?: number;
  /** Test seam: runs after each successful list, before the watch from revision+1 is created. */
  beforeWatch?: (revision: bigint) => Promise<void>;
}

export interface ServiceWatcherEvents {
  change: [InstanceRecord[]];
  stale: [boolean];
}

export class ServiceWatcher extends EventEmitter<ServiceWatcherEvents> {
  readonly service: string;
  private readonly opts: ServiceWatcherOptions;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly m: DiscoveryMetrics;
  private readonly backoff: BackoffOptions;
  private readonly closeCtl = new AbortController();
  /** key -> record, the valid ones */
  private byKey = new Map<string, InstanceRecord>();
  /** key -> mod_revision of a malformed value already reported (warn once per value) */
  private malformedSeen = new Map<string, string>();
  private list: readonly InstanceRecord[] = Object.freeze([]);
  private isStale = false;
  private isReady = false;
  private current: Watcher | undefined;
  private loop: Promise<void> | undefined;
  private firstList: Promise<void> | undefined;

  constructor(opts: ServiceWatcherOptions) {
    super();
    this.opts = opts;
    this.service = opts.service;
    this.dir = serviceDir(opts.prefix, opts.service);
    this.log = opts.logger.child({ component: "watcher", service: opts.service });
    this.m = discoveryMetrics(opts.metrics);
    this.backoff = opts.backoff ?? { initialMs: 100, maxMs: 5_000 };
    this.m.instances.set({ service: this.service }, 0);
    this.m.stale.set({ service: this.service }, 0);
    // Exported from the start, so rate()/increase() see the first one.
    this.m.malformed.inc({ service: this.service }, 0);
    this.m.undialable.inc({ service: this.service }, 0);
    this.m.watchErrors.inc({ service: this.service }, 0);
  }

  get stale(): boolean {
    return this.isStale;
  }

  get ready(): boolean {
    return this.isReady;
  }

  instances(): readonly InstanceRecord[] {
    return this.list;
  }

  /** Resolves after the first successful list (or on close); keeps trying in the background meanwhile. */
  start(): Promise<void> {
    if (!this.firstList) {
      let resolve!: () => void;
      this.firstList = new Promise<void>((r) => (resolve = r));
      this.loop = this.run(resolve).finally(resolve);
    }
    return this.firstList;
  }

  async close(): Promise<void> {
    if (this.closeCtl.signal.aborted) return;
    this.closeCtl.abort();
    const w = this.current;
    this.current = undefined;
    if (w)
      await within(
        w.cancel().catch(() => undefined),
        1_000,
      );
    if (this.loop) await within(this.loop, 2_000);
  }

  private setStale(stale: boolean, err?: unknown): void {
    if (stale === this.isStale) return;
    this.isStale = stale;
    this.m.stale.set({ service: this.service }, stale ? 1 : 0);
    if (stale)
      this.log.warn(
        { err: String(err), instances: this.list.length },
        "etcd unreachable: keeping the last known instances (stale)",
      );
    else this.log.info({ instances: this.list.length }, "etcd reachable again: instance list refreshed");
    this.emit("stale", stale);
  }

  private async run(onFirst: () => void): Promise<void> {
    const signal = this.closeCtl.signal;
    let failures = 0;
    while (!signal.aborted) {
      let revision: bigint;
      try {
        const res = await this.opts.etcd
          .getAll()
          .prefix(this.dir)
          .options({ deadline: Date.now() + (this.opts.listTimeoutMs ?? 5_000) })
          .exec();
        if (signal.aborted) break;
        this.replaceAll(res.kvs);
        revision = BigInt(res.header.revision);
        failures = 0;
        this.isReady = true;
        this.setStale(false);
        onFirst();
      } catch (err) {
        if (signal.aborted) break;
        this.setStale(true, err);
        await sleep(backoffDelay(this.backoff, failures++), signal);
        continue;
      }
      if (this.opts.beforeWatch) await this.opts.beforeWatch(revision).catch(() => undefined);
      const why = await this.watchFrom(revision + 1n);
      if (signal.aborted) break;
      this.log.debug({ why }, "watch ended; re-listing");
      // A broken stream usually means etcd went away: mark stale now, the next list clears it.
      if (why.startsWith("disconnected")) this.setStale(true, why);
      await sleep(backoffDelay(this.backoff, failures++), signal);
    }
  }

  /** Watches from `start`, applying events, until the watch breaks; returns why. */
  private watchFrom(start: bigint): Promise<string> {
    return new Promise<string>((resolve) => {
      const w = this.opts.etcd.watch().prefix(this.dir).startRevision(start.toString()).watcher();
      this.current = w;
      let done = false;
      const onClose = () => finish("closed");
      const finish = (why: string) => {
        if (done) return;
        done = true;
        this.closeCtl.signal.removeEventListener("abort", onClose);
        if (this.current === w) this.current = undefined;
        w.removeAllListeners("put").removeAllListeners("delete");
        // cancel() waits for etcd's answer; never block the loop on it.
        void w.cancel().catch(() => undefined);
        resolve(why);
      };
      w.on("error", (err) => finish(`error: ${String(err)}`)); // etcd3 reports compaction as a cancelled watch
      w.on("disconnected", (err) => finish(`disconnected: ${String(err)}`));
      w.on("end", () => finish("end"));
      w.on("data", (res) => {
        if (res.compact_revision && res.compact_revision !== "0") finish(`compacted at ${res.compact_revision}`);
      });
      // These run inside etcd3's stream handler: a throw there is an uncaught exception that ends the
      // process, so nothing may escape (one bad record must never take a caller down).
      w.on("put", (kv) => this.guard("put", () => this.applyPut(kv)));
      w.on("delete", (kv) => this.guard("delete", () => this.applyDelete(kv.key.toString())));
      this.closeCtl.signal.addEventListener("abort", onClose, { once: true });
    });
  }

  private guard(event: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.m.watchErrors.inc({ service: this.service });
      this.log.error({ err, event }, "watch event failed; skipped (the next re-list repairs the set)");
    }
  }

  private decode(kv: IKeyValue): InstanceRecord | undefined {
    const key = kv.key.toString();
    const result = decodeRecord(this.service, key, kv.value.toString());
    if (result.ok) {
      this.malformedSeen.delete(key);
      return result.record;
    }
    if (this.malformedSeen.get(key) !== kv.mod_revision) {
      this.malformedSeen.set(key, kv.mod_revision);
      this.m.malformed.inc({ service: this.service });
      this.log.warn({ key, reason: result.reason }, "ignoring malformed instance record");
    }
    return undefined;
  }

  private replaceAll(kvs: IKeyValue[]): void {
    const next = new Map<string, InstanceRecord>();
    const keys = new Set<string>();
    for (const kv of kvs) {
      const key = kv.key.toString();
      keys.add(key);
      const rec = this.decode(kv);
      if (rec) next.set(key, rec);
    }
    for (const k of this.malformedSeen.keys()) if (!keys.has(k)) this.malformedSeen.delete(k);
    const changed = next.size !== this.byKey.size || [...next].some(([k, r]) => !sameRecord(this.byKey.get(k), r));
    this.byKey = next;
    if (changed) this.publish();
  }

  private applyPut(kv: IKeyValue): void {
    const key = kv.key.toString();
    const rec = this.decode(kv);
    if (!rec) {
      if (this.byKey.delete(key)) this.publish();
      return;
    }
    if (sameRecord(this.byKey.get(key), rec)) return;
    this.byKey.set(key, rec);
    this.publish();
  }

  private applyDelete(key: string): void {
    this.malformedSeen.delete(key);
    if (this.byKey.delete(key)) this.publish();
  }

  private publish(): void {
    const list = [...this.byKey.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.list = Object.freeze(list);
    this.m.instances.set({ service: this.service }, list.length);
    this.log.debug({ instances: list.map((r) => r.id) }, "instances changed");
    // A listener that throws (a pool that cannot open a connection) must not break the watch or the
    // loop that called us; the pool guards itself, this is the second line.
    try {
      this.emit("change", list);
    } catch (err) {
      this.m.watchErrors.inc({ service: this.service });
      this.log.error({ err }, "a listener of instance changes failed");
    }
  }
}

function sameRecord(a: InstanceRecord | undefined, b: InstanceRecord): boolean {
  return (
    a !== undefined &&
    a.id === b.id &&
    a.address === b.address &&
    a.weight === b.weight &&
    a.version === b.version &&
    a.zone === b.zone &&
    a.startedAt === b.startedAt &&
    a.service === b.service
  );
}
