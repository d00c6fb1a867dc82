// Registrar: keeps one instance record in etcd under a lease for as long as the process lives.
//
// One "session" = one lease + one put of the record + a watch on the record's own key. A session
// ends when etcd3 reports the lease `lost` (keepalive answered TTL=0, or no keepalive for 2*TTL,
// both terminal in etcd3), or when the key is deleted by someone else. Then a new session is
// started, with jittered exponential backoff between failed attempts and no retry limit.
import type { Etcd3, Lease, Watcher } from "etcd3";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type BackoffOptions, backoffDelay, sleep, within } from "../../backoff.ts";
import { type DiscoveryMetrics, discoveryMetrics } from "../metrics.ts";
import { encodeRecord, type InstanceRecord, instanceKey } from "./record.ts";

export interface RegistrarOptions {
  etcd: Etcd3;
  prefix: string;
  record: InstanceRecord;
  ttlSeconds: number;
  logger: Logger;
  metrics: Registry;
  backoff?: BackoffOptions;
  /** Upper bound for each etcd call and for stop(); default 3000 ms. */
  callTimeoutMs?: number;
}

interface Session {
  lease: Lease;
  leaseId: string;
  watcher: Watcher | undefined;
  ended: Promise<string>;
  end(reason: string): void;
}

export class Registrar {
  readonly key: string;
  private readonly opts: RegistrarOptions;
  private readonly log: Logger;
  private readonly m: DiscoveryMetrics;
  private readonly backoff: BackoffOptions;
  private readonly callTimeoutMs: number;
  private readonly stopCtl = new AbortController();
  private session: Session | undefined;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private isRegistered = false;
  private everRegistered = false;

  constructor(opts: RegistrarOptions) {
    this.opts = opts;
    this.key = instanceKey(opts.prefix, opts.record.service, opts.record.id);
    encodeRecord(opts.record); // validate early
    if (!(opts.ttlSeconds >= 1)) throw new RangeError(`ttlSeconds must be >= 1, got ${opts.ttlSeconds}`);
    // The process logger already names service and instance; the key tells registrars in one process apart.
    this.log = opts.logger.child({ component: "registrar", key: this.key });
    this.m = discoveryMetrics(opts.metrics);
    // Every outcome exported from the start, so rate()/increase() see the first event too.
    for (const outcome of ["registered", "reregistered", "lost", "failed"] as const) {
      this.m.registrations.inc({ service: opts.record.service, outcome }, 0);
    }
    this.backoff = opts.backoff ?? { initialMs: 200, maxMs: 10_000 };
    this.callTimeoutMs = opts.callTimeoutMs ?? 3_000;
  }

  get registered(): boolean {
    return this.isRegistered;
  }

  /** Resolves once first registered; re-registers forever in the background. Rejects only if stop() comes first. */
  start(): Promise<void> {
    if (this.loop) throw new Error("Registrar already started");
    let firstResolve!: () => void;
    let firstReject!: (e: Error) => void;
    const first = new Promise<void>((res, rej) => {
      firstResolve = res;
      firstReject = rej;
    });
    this.loop = this.run(firstResolve).finally(() => firstReject(new Error("registrar stopped before it registered")));
    return first;
  }

  private count(outcome: "registered" | "reregistered" | "lost" | "failed"): void {
    this.m.registrations.inc({ service: this.opts.record.service, outcome });
  }

  private async run(onFirst: () => void): Promise<void> {
    const signal = this.stopCtl.signal;
    let failures = 0;
    while (!signal.aborted) {
      let session: Session;
      try {
        session = await this.openSession();
      } catch (err) {
        this.count("failed");
        const delay = backoffDelay(this.backoff, failures++);
        this.log.warn({ err: String(err), retryInMs: Math.round(delay) }, "registration failed; retrying");
        await sleep(delay, signal);
        continue;
      }
      if (signal.aborted) {
        await this.closeSession(session, true);
        break;
      }
      failures = 0;
      this.session = session;
      this.isRegistered = true;
      this.count(this.everRegistered ? "reregistered" : "registered");
      this.log.info(
        { leaseId: session.leaseId, ttlSeconds: this.opts.ttlSeconds },
        this.everRegistered ? "re-registered" : "registered",
      );
      this.everRegistered = true;
      onFirst();
      const reason = await session.ended;
      this.isRegistered = false;
      if (signal.aborted) break; // stop() owns revoking this session
      this.session = undefined;
      this.count("lost");
      this.log.warn({ reason }, "registration lost; registering again");
      // Best effort: a lease that is still alive (e.g. our key was deleted) is revoked so it does not linger.
      void this.closeSession(session, reason === "key deleted");
      await sleep(backoffDelay({ initialMs: this.backoff.initialMs, maxMs: this.backoff.initialMs }, 0), signal);
    }
  }

  private async openSession(): Promise<Session> {
    const { etcd, ttlSeconds, record } = this.opts;
    const deadline = () => ({ deadline: Date.now() + this.callTimeoutMs });
    const lease = etcd.lease(ttlSeconds, { autoKeepAlive: true, ...deadline() });
    let endFn!: (reason: string) => void;
    const ended = new Promise<string>((r) => (endFn = r));
    lease.on("lost", (err) => endFn(`lease lost: ${err instanceof Error ? err.message : String(err)}`));
    let leaseId: string;
    let putRevision: string;
    try {
      leaseId = await lease.grant();
      const res = await lease.put(this.key).value(encodeRecord(record)).options(deadline()).exec();
      putRevision = res.header.revision;
    } catch (err) {
      lease.release();
      void lease.revoke({ deadline: Date.now() + this.callTimeoutMs }).catch(() => undefined);
      throw err;
    }
    const session: Session = { lease, leaseId, watcher: undefined, ended, end: endFn };
    // Watch our own key from just after our put: a delete means someone removed us.
    const watcher = etcd
      .watch()
      .key(this.key)
      .startRevision(String(BigInt(putRevision) + 1n))
      .watcher();
    watcher.on("error", () => undefined); // etcd3 re-attaches on disconnect; a cancelled watch only loses this safety net
    watcher.on("delete", () => endFn("key deleted"));
    session.watcher = watcher;
    return session;
  }

  private async closeSession(session: Session, revoke: boolean): Promise<void> {
    session.end("closed");
    const w = session.watcher;
    session.watcher = undefined;
    if (w) void w.cancel().catch(() => undefined);
    if (revoke) {
      await within(
        session.lease.revoke({ deadline: Date.now() + this.callTimeoutMs }).catch((err) => {
          this.log.warn({ err: String(err) }, "lease revoke failed; it will expire after its TTL");
        }),
        this.callTimeoutMs,
      );
    } else {
      session.lease.release();
    }
  }

  /** Stops re-registering and revokes the lease (bounded by callTimeoutMs). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopCtl.abort();
      const session = this.session;
      this.session = undefined;
      this.isRegistered = false;
      if (session) {
        await this.closeSession(session, true);
        this.log.info("deregistered (lease revoked)");
      }
      if (this.loop) await within(this.loop, this.callTimeoutMs);
    })();
    return this.stopping;
  }
}
