// Rate limits of the gateway, token buckets in this process' memory (docs/gateway.md: what that means
// with N replicas and how an ingress-level limit complements it):
// - register and login attempts per client address (every attempt counts, also malformed ones);
// - failed logins per username from one address (tight) and per username overall (looser): password
//   guessing is slowed, and one address flooding a username cannot lock its owner out elsewhere;
// - optionally, every API request per client address.
// The client address is Express' req.ip: the peer, or X-Forwarded-For only as far as `http.trustProxy`
// trusts the proxies in front (the ingress controller).
import type { Request, RequestHandler } from "express";
import { ClientError } from "nice-grpc";
import type { Registry } from "prom-client";
import { z } from "zod";
import { usernameKey } from "../platform/credentials.ts";
import { errorReason, Reason } from "../platform/errors.ts";
import { counter } from "../platform/metrics.ts";
import { tooManyRequests } from "./errors.ts";

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
    apiPerAddress: rule(0, 0),
    /**
     * Login/register requests in flight per client address (gateway/shedding.ts; 429 beyond; 0: no
     * bound): the buckets allow a burst, and a few addresses spending theirs at once would fill the
     * user service's hashing queue, so everyone else would get 503 until it drained.
     */
    credentialsInFlightPerAddress: z.number().int().min(0).default(2),
    /** Keys remembered per limit at most (least recently seen forgotten first): bounded memory. */
    maxTrackedKeys: z.number().int().min(1_000).max(10_000_000).default(100_000),
  })
  .prefault({});

export type RateLimitConfig = z.infer<typeof rateLimitSection>;
type Rule = { burst: number; perMinute: number };

/** Token buckets by key; full buckets are the same as absent ones, so forgetting the oldest is safe enough. */
export class TokenBuckets {
  readonly #rule: Rule;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

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

  /** Seconds until `key` has a token (0: it has one now). */
  wait(key: string): number {
    const tokens = this.#refill(key).tokens;
    if (tokens >= 1 - 1e-9) return 0; // (float sums of refills)
    if (this.#rule.perMinute <= 0) return 60;
    return Math.max(1, Math.ceil(((1 - tokens) * 60) / this.#rule.perMinute - 1e-9));
  }

  /** Takes a token of `key`; returns the seconds to wait instead when there is none (0: taken). */
  take(key: string): number {
    const wait = this.wait(key);
    if (wait === 0) this.#buckets.get(key)!.tokens -= 1;
    return wait;
  }

  #refill(key: string): { tokens: number; at: number } {
    const now = this.#now();
    const old = this.#buckets.get(key);
    const b = old ?? { tokens: this.#rule.burst, at: now };
    b.tokens = Math.min(this.#rule.burst, b.tokens + ((now - b.at) / 60_000) * this.#rule.perMinute);
    b.at = now;
    // Most recently seen last: the Map's first key is the one to forget.
    this.#buckets.delete(key);
    this.#buckets.set(key, b);
    if (!old && this.#buckets.size > this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    return b;
  }
}

/** Which limits a route is under besides the API-wide one. */
export type RouteLimit = "register" | "login";

export class RateLimits {
  readonly #register: TokenBuckets;
  readonly #login: TokenBuckets;
  readonly #failuresHere: TokenBuckets;
  readonly #failures: TokenBuckets;
  readonly #api: TokenBuckets;
  readonly #limited;

  constructor(config: RateLimitConfig, metrics: Registry, now?: () => number) {
    const buckets = (r: Rule) => new TokenBuckets(r, config.maxTrackedKeys, now);
    this.#register = buckets(config.registerPerAddress);
    this.#login = buckets(config.loginPerAddress);
    this.#failuresHere = buckets(config.loginFailuresPerUsernameAndAddress);
    this.#failures = buckets(config.loginFailuresPerUsername);
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
      (req, _res, next) => {
        const ip = clientAddress(req);
        if (api) this.#check(this.#api, ip, "requests from this address", "api");
        if (own?.enabled) this.#check(own, ip, `${limit} attempts from this address`, `${limit}_address`);
        next();
      },
    ];
  }

  /** Before a login's RPC: refused while this username has had too many failures. */
  beforeLogin(req: Request, username: string): void {
    for (const [buckets, key, label] of this.#failureKeys(req, username)) {
      const wait = buckets.enabled ? buckets.wait(key) : 0;
      if (wait > 0) {
        this.#limited.inc({ limit: label });
        throw tooManyRequests("failed logins for this username", wait);
      }
    }
  }

  /** After a login's RPC failed: a wrong password or unknown user costs a token of each failure limit. */
  afterLoginFailure(req: Request, username: string, err: unknown): void {
    if (!(err instanceof ClientError) || errorReason(err) !== Reason.INVALID_CREDENTIALS) return;
    for (const [buckets, key] of this.#failureKeys(req, username)) if (buckets.enabled) buckets.take(key);
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

/** The client's address as Express derives it under the `trust proxy` setting. */
function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? "unknown";
}
