// The configuration sections every process shares; see docs/architecture.md for the table of keys.
import { networkInterfaces } from "node:os";
import { z } from "zod";
import { jwtSecretProblem, MAX_TOKEN_TTL_SECONDS } from "./auth.ts";
import { proxyListProblem, trustedProxies } from "./client-address.ts";
import { BALANCER_DEFAULTS, strategyNames } from "./discovery/balancing/balancer.ts";
import { LOAD_DEFAULTS, SLOW_START_DEFAULTS } from "./discovery/balancing/load.ts";
import { EJECTION_DEFAULTS } from "./discovery/balancing/outlier.ts";
import { ZONE_DEFAULTS } from "./discovery/balancing/zone.ts";
import { hostProblem, unbracket } from "./discovery/registry/address.ts";
import { DEFAULT_TRANSPORT, transportNames } from "./discovery/transport/transport.ts";
import { ANY_HOST } from "./listen.ts";
import { overloadSection } from "./overload.ts";

const port = z.number().int().min(0).max(65535);
const millis = z.number().int().min(1);

function firstExternalIPv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

export const logSection = z
  .strictObject({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") })
  .prefault({});

export const etcdSection = z
  .strictObject({
    endpoints: z
      .array(z.url({ protocol: /^https?$/, error: "must be an http(s) URL like http://127.0.0.1:2379" }))
      .min(1)
      .default(["http://127.0.0.1:2379"]),
    dialTimeoutMs: millis.default(3000),
    /** etcd client auth (docs/kubernetes.md, security model): empty = no auth. */
    username: z.string().default(""),
    password: z.string().default(""),
    /** Client TLS (https endpoints): CA bundle to trust, and a client certificate + key when etcd asks for one. */
    tls: z
      .strictObject({
        caFile: z.string().default(""),
        certFile: z.string().default(""),
        keyFile: z.string().default(""),
      })
      .prefault({}),
  })
  .refine((e) => (e.username === "") === (e.password === ""), {
    message: "username and password go together (both set or both empty)",
    path: ["password"],
  })
  .refine((e) => (e.tls.certFile === "") === (e.tls.keyFile === ""), {
    message: "tls.certFile and tls.keyFile go together",
    path: ["tls", "keyFile"],
  })
  .prefault({});

export type EtcdConfig = z.infer<typeof etcdSection>;

export const discoverySection = z
  .strictObject({
    prefix: z
      .string()
      .regex(/^\/[^\s]*[^/\s]$/, "must start with / and not end with /")
      .default("/dzug/services"),
    leaseTtlSeconds: z.number().int().min(2).max(3600).default(10),
    /** What callers dial: an IP (IPv6 bare or bracketed: the record brackets it) or DNS name (address.ts). */
    advertiseHost: z
      .string()
      .min(1)
      .default(firstExternalIPv4)
      .superRefine((host, ctx) => {
        const problem = hostProblem(unbracket(host));
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
    weight: z.number().int().min(1).max(10_000).default(100),
    zone: z.string().default(""),
    /** Callers: how balanced calls reach instances with tracing off (platform/discovery/transport/transport.ts). */
    transport: z.enum(transportNames).default(DEFAULT_TRANSPORT),
  })
  .prefault({});

/** A balancing strategy by name (platform/discovery/balancing/balancer.ts has the list). */
export const strategy = z.enum(strategyNames);

export const balancerSection = z
  .strictObject({
    strategy: strategy.default(BALANCER_DEFAULTS.strategy),
    maxAttempts: z.number().int().min(1).max(10).default(BALANCER_DEFAULTS.maxAttempts),
    deadlineMs: millis.default(BALANCER_DEFAULTS.deadlineMs),
    ejection: z
      .strictObject({
        consecutiveFailures: z.number().int().min(0).default(EJECTION_DEFAULTS.consecutiveFailures),
        baseMs: millis.default(EJECTION_DEFAULTS.baseMs),
        maxMs: millis.default(EJECTION_DEFAULTS.maxMs),
      })
      .prefault({}),
    /** τ of the latency estimate of p2c-ewma (peak EWMA, platform/discovery/balancing/load.ts). */
    ewmaDecayMs: millis.default(LOAD_DEFAULTS.decayMs),
    /** p2c-ewma: an instance not picked for this long is picked once anyway (refreshes its estimate). */
    forcePickMs: millis.default(LOAD_DEFAULTS.forcePickMs),
    /** least-request: weight / (in-flight + 1)^bias (Envoy's active_request_bias). */
    leastRequestBias: z.number().min(0).max(10).default(LOAD_DEFAULTS.leastRequestBias),
    /** Envoy's slow_start_config for the strategies that use weights. */
    slowStart: z
      .strictObject({
        windowMs: z.number().int().min(0).default(SLOW_START_DEFAULTS.windowMs),
        aggression: z.number().min(0.1).max(10).default(SLOW_START_DEFAULTS.aggression),
        minWeightPercent: z.number().min(1).max(100).default(SLOW_START_DEFAULTS.minWeightPercent),
      })
      .prefault({}),
    /** Zone preference (platform/discovery/balancing/zone.ts); the caller's zone is discovery.zone. */
    zone: z
      .strictObject({
        preferLocal: z.boolean().default(ZONE_DEFAULTS.preferLocal),
        minInstances: z.number().int().min(1).default(ZONE_DEFAULTS.minInstances),
        maxInFlightPerInstance: z.number().int().min(0).default(ZONE_DEFAULTS.maxInFlightPerInstance),
      })
      .prefault({}),
  })
  .prefault({});

export const shutdownSection = z
  .strictObject({
    drainTimeoutMs: millis.default(10_000),
    /** After revoking the lease, keep serving this long so callers' watches drop the instance first. */
    propagationDelayMs: z.number().int().min(0).default(500),
  })
  .prefault({});

export const grpcSection = z
  .strictObject({ host: z.string().min(1).default(ANY_HOST), port: port.default(50051) })
  .prefault({});

export const adminSection = z.strictObject({ port: port.default(9464) }).prefault({});

export const httpSection = z
  .strictObject({
    host: z.string().min(1).default(ANY_HOST),
    port: port.default(8080),
    bodyLimitBytes: z
      .number()
      .int()
      .min(1024)
      .max(10 * 1024 * 1024)
      .default(64 * 1024),
    /**
     * Which proxies in front may name the client in X-Forwarded-For (rate limits key on that address):
     * "" trusts none (the peer is the client); else a comma-separated list of addresses, CIDRs and
     * "loopback", "linklocal", "uniquelocal", trusted for `trustProxyHops` hops at most
     * (platform/client-address.ts). A bare number N trusts N hops from any peer (Express' meaning):
     * only safe when nothing but the proxy can reach the gateway.
     */
    trustProxy: z
      .string()
      .default("")
      .superRefine((v, ctx) => {
        const why = v === "" || /^\d+$/.test(v) ? undefined : proxyListProblem(v);
        if (why) ctx.addIssue({ code: "custom", message: why });
      }),
    /**
     * How many proxies from `trustProxy`'s list in a row may name the client: 1 (the default) takes the
     * X-Forwarded-For entry the nearest proxy wrote and ignores what a client put further left.
     */
    trustProxyHops: z.number().int().min(1).max(10).default(1),
  })
  .prefault({});

/** http.trustProxy / trustProxyHops as Express' `trust proxy` setting. */
export function trustProxySetting(
  value: string,
  hops: number,
): boolean | number | ((addr: string, i: number) => boolean) {
  if (value === "") return false;
  if (/^\d+$/.test(value)) return Number(value);
  return trustedProxies(value, hops);
}

export const databaseSection = z
  .strictObject({
    url: z
      .string()
      .regex(/^(sqlite:|postgres(ql)?:\/\/)/, "must be sqlite:<path> or postgres://user:pass@host:port/db")
      .default("sqlite:.data/dzug.db"),
    /** PostgreSQL: a new connection that takes longer fails (the pool does not wait on a dead server). */
    connectTimeoutMs: z.number().int().min(1).default(3_000),
    /** PostgreSQL: the server cancels a statement running longer; the client gives up 1 s after that. */
    statementTimeoutMs: z.number().int().min(1).default(5_000),
  })
  .prefault({});

export type DatabaseConfig = z.infer<typeof databaseSection>;

export const authSection = z
  .strictObject({
    jwtSecret: z
      .string({ error: "is required (a random string of 32+ characters)" })
      .min(32, "must be at least 32 characters")
      .superRefine((secret, ctx) => {
        const why = jwtSecretProblem(secret);
        if (why) ctx.addIssue({ code: "custom", message: why });
      }),
    tokenTtlSeconds: z.number().int().min(60).max(MAX_TOKEN_TTL_SECONDS).default(86_400),
  })
  .prefault({} as { jwtSecret: string });

/**
 * Lists streaming at once in one process (gateway and relation, config `lists.maxConcurrentStreams`):
 * one more is answered busy before anything is read. Each holds a page or two (~1 MiB), so this bounds
 * what large lists can take of a process's memory (docs/benchmarks.md: lists).
 */
export const DEFAULT_LIST_STREAMS = 16;

/**
 * Follow, follower and friend lists (docs/storage.md: lists of any size). The relation service reads
 * all of it; the gateway reads maxConcurrentStreams (one section, so one config file serves both).
 */
export const listsSection = z
  .strictObject({
    /**
     * The most entries an unpaged List* RPC answers: beyond it, the newest `maxLength` relations. The
     * gateway's lists use the streamed RPCs, which are complete whatever their length.
     */
    maxLength: z.number().int().min(1).max(1_000_000).default(100_000),
    /**
     * Entries per message of a streamed list (the gateway's lists): the process holds about two pages
     * of each list it streams (~1 KiB an entry with its profile), one GetUsers call per page.
     */
    pageSize: z.number().int().min(1).max(1_000).default(500),
    /** Lists streaming at once; one more is refused: relation RESOURCE_EXHAUSTED, gateway 503 (busy). */
    maxConcurrentStreams: z.number().int().min(1).max(10_000).default(DEFAULT_LIST_STREAMS),
  })
  .prefault({});

/** What every gRPC service process reads. */
export const serviceBaseSchema = z.strictObject({
  log: logSection,
  etcd: etcdSection,
  discovery: discoverySection,
  balancer: balancerSection,
  shutdown: shutdownSection,
  grpc: grpcSection,
  admin: adminSection,
  overload: overloadSection,
});

export type ServiceBaseConfig = z.infer<typeof serviceBaseSchema>;
