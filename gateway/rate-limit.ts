// Rate limits of the gateway, token buckets in this process' memory (docs/gateway.md: what that means
// with N replicas and how an ingress-level limit complements it):
// - register and login attempts per client address (every attempt counts, also malformed ones);
// - failed logins per username from one address (tight) and per username overall (looser): password
//   guessing is slowed, and one address flooding a username cannot lock its owner out elsewhere;
// - optionally, every API request per client address.
// The client address is Express' req.ip: the peer, or X-Forwarded-For only as far as `http.trustProxy`
// trusts the proxies in front (the ingress controller).
import type { Request, RequestHandler, Response } from "express";
import { ClientError } from "nice-grpc";
import type { Registry } from "prom-client";
import { z } from "zod";
import { clientKey } from "../platform/client-address.ts";
import { usernameKey } from "../platform/credentials.ts";
import { errorReason, Reason } from "../platform/errors.ts";
import { counter } from "../platform/metrics.ts";
import { type Device, deviceFor } from "./device.ts";
import { tooManyRequests } from "./errors.ts";
import { locals } from "./respond.ts";

const rule = (burst: number, perMinute: number) =>
  z
    .strictObject({
      /** Attempts allowed at once (the bucket's size); 0 turns the limit off. */
      burst: z.number().int().min(0).default(burst),
      /** Attempts added back per minute. */
      perMinute: z.number().min(0).default(perMinute),
    })
    .prefault({});

export const rateLimitSection = z
  .strictObject({
    registerPerAddress: rule(20, 20),
    loginPerAddress: rule(30, 30),
    loginFailuresPerUsernameAndAddress: rule(5, 1),
    loginFailuresPerUsername: rule(50, 10),
    /** Failed logins presenting one device token (gateway/device.ts): the budget of an exempt device. */
    loginFailuresPerDevice: rule(10, 1),
    apiPerAddress: rule(0, 0),
    /**
     * Login/register requests in flight per client address (gateway/shedding.ts; 429 beyond; 0: no
     * bound): the buckets allow a burst, and a few addresses spending theirs at once would fill the
     * user service's hashing queue, so everyone else would get 503 until it drained.
     */
    credentialsInFlightPerAddress: z.number().int().min(0).default(2),
    /**
     * Login/register requests in flight in this gateway from clients without a device token (503 beyond,
     * before any RPC; 0: no bound). A flood from many addresses stays under every per-address limit and
     * fills the user service's hashing queue; refused there, each attempt still cost a gRPC round trip,
     * and those refusals, not the hashes, held the gateway's event loop (a known device's login waited
     * behind them). Logins presenting a device token are not counted (gateway/shedding.ts).
     */
    credentialsInFlight: z.number().int().min(0).default(16),
    /** Keys remembered per limit at most (least recently seen forgotten first): bounded memory. */
    maxTrackedKeys: z.number().int().min(1_000).max(10_000_000).default(100_000),
  })
  .prefault({});

export type RateLimitConfig = z.infer<typeof rateLimitSection>;
type Rule = { burst: number; perMinute: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** Oldest buckets looked at for one to forget when the store is full (bounded work per new key). */
const EVICTION_SCAN = 16;

/**
 * Token buckets by key, bounded to `maxKeys`. A key gets state only when it spends a token (`take`);
 * asking (`wait`) never creates one, so checks cannot fill the store. A full bucket is the same as an
 * absent one, so the store forgets the least recently used bucket that is not limited right now;
 * buckets of clients that are limited (no token left) are never pushed out by new keys. When the
 * oldest `EVICTION_SCAN` buckets are all limited (the store is full of limited clients: someone
 * spent a token from `maxKeys` distinct keys within one refill), new keys share one overflow bucket
 * until room comes back — they are limited together rather than an attacker's buckets being freed.
 */
export class TokenBuckets {
  readonly #rule: Rule;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  /**
   * Walks the Map in insertion order, which is least-recently-used order (a used key is deleted and
   * set again). Kept between evictions: a fresh iterator would skip every deleted slot at the front
   * of V8's table each time (quadratic under a flood of new keys); this one skips each slot once.
   */
  #cursor: MapIterator<[string, Bucket]> | undefined;
  #overflow: Bucket | undefined;

  constructor(rule: Rule, maxKeys: number, now: () => number = () => performance.now()) {
    this.#rule = rule;
    this.#maxKeys = maxKeys;
    this.#now = now;
  }

  get enabled(): boolean {
    return this.#rule.burst > 0;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Seconds until `key` has a token (0: it has one now). Creates no state. */
  wait(key: string): number {
    return this.#secondsFor(this.#tokens(this.#buckets.get(key) ?? this.#overflowFor()));
  }

  /** Takes a token of `key`; returns the seconds to wait instead when there is none (0: taken). */
  take(key: string): number {
    let b = this.#buckets.get(key);
    if (b) {
      this.#buckets.delete(key); // most recently used last: the Map's first keys are the oldest
      this.#buckets.set(key, b);
    } else {
      b = this.#admit(key);
    }
    b.tokens = this.#tokens(b);
    b.at = this.#now();
    const wait = this.#secondsFor(b.tokens);
    if (wait === 0) b.tokens -= 1;
    return wait;
  }

  /** Tokens of `b` now (a full bucket when absent). */
  #tokens(b: Bucket | undefined): number {
    if (!b) return this.#rule.burst;
    return Math.min(this.#rule.burst, b.tokens + ((this.#now() - b.at) / 60_000) * this.#rule.perMinute);
  }

  #secondsFor(tokens: number): number {
    if (tokens >= 1 - 1e-9) return 0; // (float sums of refills)
    if (this.#rule.perMinute <= 0) return 60;
    return Math.max(1, Math.ceil(((1 - tokens) * 60) / this.#rule.perMinute - 1e-9));
  }

  /** The overflow bucket when the store is full of limited clients (an untracked key's state). */
  #overflowFor(): Bucket | undefined {
    return this.#buckets.size >= this.#maxKeys ? this.#overflow : undefined;
  }

  /** A new key's bucket: stored when there is room or a bucket can be forgotten, else the overflow bucket. */
  #admit(key: string): Bucket {
    if (this.#buckets.size >= this.#maxKeys && !this.#forgetOne()) {
      this.#overflow ??= { tokens: this.#rule.burst, at: this.#now() };
      return this.#overflow;
    }
    const b = { tokens: this.#rule.burst, at: this.#now() };
    this.#buckets.set(key, b);
    return b;
  }

  /** Forgets the oldest bucket that has a token; a limited one seen on the way moves to the back. */
  #forgetOne(): boolean {
    for (let i = 0; i < EVICTION_SCAN; i++) {
      const oldest = this.#oldest();
      if (!oldest) return false;
      const [key, b] = oldest;
      this.#buckets.delete(key);
      if (this.#secondsFor(this.#tokens(b)) === 0) {
        this.#overflow = undefined; // room again
        return true;
      }
      this.#buckets.set(key, b);
    }
    return false;
  }

  /** The least recently used entry (every live entry is at or after the cursor). */
  #oldest(): [string, Bucket] | undefined {
    for (let fresh = 0; fresh < 2; fresh++) {
      this.#cursor ??= this.#buckets.entries();
      const r = this.#cursor.next();
      if (!r.done) return r.value;
      this.#cursor = undefined;
    }
    return undefined;
  }
}

/** Which limits a route is under besides the API-wide one. */
export type RouteLimit = "register" | "login";

export class RateLimits {
  readonly #register: TokenBuckets;
  readonly #login: TokenBuckets;
  readonly #failuresHere: TokenBuckets;
  readonly #failures: TokenBuckets;
  readonly #devices: TokenBuckets;
  readonly #api: TokenBuckets;
  readonly #limited;

  constructor(config: RateLimitConfig, metrics: Registry, now?: () => number) {
    const buckets = (r: Rule) => new TokenBuckets(r, config.maxTrackedKeys, now);
    this.#register = buckets(config.registerPerAddress);
    this.#login = buckets(config.loginPerAddress);
    this.#failuresHere = buckets(config.loginFailuresPerUsernameAndAddress);
    this.#failures = buckets(config.loginFailuresPerUsername);
    this.#devices = buckets(config.loginFailuresPerDevice);
    this.#api = buckets(config.apiPerAddress);
    this.#limited = counter(metrics, {
      name: "dzug_http_rate_limited_total",
      help: "Requests answered 429 by the gateway's rate limits, by limit.",
      labelNames: ["limit"] as const,
    });
  }

  /**
   * Per-address limits of a route (and the API-wide one), before its body is read; none when no
   * enabled limit applies, so such routes never derive the client address.
   */
  addressLimit(limit: RouteLimit | undefined): RequestHandler[] {
    const own = limit === "register" ? this.#register : limit === "login" ? this.#login : undefined;
    const api = this.#api.enabled;
    if (!api && !own?.enabled) return [];
    return [
      (req, res, next) => {
        const ip = clientAddress(req);
        if (api) this.#check(this.#api, ip, "requests from this address", "api");
        // A device that logged in before, with failures left, logs in whatever its address shares.
        const exempt = limit === "login" && this.#deviceTrusted(locals(res).device);
        if (own?.enabled && !exempt) this.#check(own, ip, `${limit} attempts from this address`, `${limit}_address`);
        next();
      },
    ];
  }

  /** Before a login's RPC: refused while this username (or the device presented) has had too many failures. */
  beforeLogin(req: Request, res: Response, username: string): void {
    const device = deviceFor(res, username);
    if (device && this.#deviceTrusted(device)) return; // exempt from the per-username lockout
    const keys = this.#failureKeys(req, username);
    const presented = locals(res).device;
    if (presented) keys.push([this.#devices, presented.id, "login_failures_device"]);
    for (const [buckets, key, label] of keys) {
      const wait = buckets.enabled ? buckets.wait(key) : 0;
      if (wait > 0) {
        this.#limited.inc({ limit: label });
        throw tooManyRequests("failed logins for this username", wait);
      }
    }
  }

  /**
   * After a login's RPC failed: a wrong password or unknown user costs a token of the device's budget
   * when a device token was presented, and of each per-username limit unless that device is exempt.
   */
  afterLoginFailure(req: Request, res: Response, username: string, err: unknown): void {
    if (!(err instanceof ClientError) || errorReason(err) !== Reason.INVALID_CREDENTIALS) return;
    const presented = locals(res).device;
    if (presented && this.#devices.enabled) this.#devices.take(presented.id);
    const device = deviceFor(res, username);
    if (device && this.#deviceTrusted(device)) return;
    for (const [buckets, key] of this.#failureKeys(req, username)) if (buckets.enabled) buckets.take(key);
  }

  /** A device token is honoured while its failure budget lasts (off: never, as if there were none). */
  #deviceTrusted(device: Device | undefined): boolean {
    return device !== undefined && this.#devices.enabled && this.#devices.wait(device.id) === 0;
  }

  #failureKeys(req: Request, username: string): Array<[TokenBuckets, string, string]> {
    const name = usernameKey(username);
    return [
      [this.#failuresHere, `${clientAddress(req)}\u0000${name}`, "login_failures_address"],
      [this.#failures, name, "login_failures"],
    ];
  }

  #check(buckets: TokenBuckets, key: string, what: string, label: string): void {
    const wait = buckets.take(key);
    if (wait > 0) {
      this.#limited.inc({ limit: label });
      throw tooManyRequests(what, wait);
    }
  }
}

/**
 * The client as its limits know it: Express' req.ip (the peer, or X-Forwarded-For as far as
 * `http.trustProxy` trusts the hops in front), grouped (platform/client-address.ts: IPv6 by /64,
 * IPv4-mapped as IPv4).
 */
export function clientAddress(req: Request): string {
  return clientKey(req.ip ?? req.socket.remoteAddress ?? "unknown");
}
