// Configuration of the etcd administration commands (main.ts), read like every dzug config: defaults <
// DZUG_CONFIG file < DZUG_* environment. `etcd.*` are root's credentials (username root).
import { z } from "zod";
import { discoverySection, etcdSection, logSection } from "../config-schema.ts";
import { READERS } from "./accounts.ts";

const url = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });
const accountName = z.string().regex(/^[a-z][a-z0-9-]*$/, "must be a lower-case name like user");

/** The desired members (`name=peerURL`, the --initial-cluster format) and their client URLs, same order. */
const clusterSection = z
  .strictObject({
    members: z.array(z.string().regex(/^[^=\s]+=https?:\/\/\S+$/, "each entry must be name=peerURL")).min(1),
    clientUrls: z.array(url).min(1),
    /** Each member's status port (GET /dzug/member: has it seen a cluster?), same order; empty = not asked. */
    statusUrls: z.array(url).default([]),
  })
  .refine((c) => c.members.length === c.clientUrls.length, {
    message: "members and clientUrls must list the same members in the same order",
    path: ["clientUrls"],
  })
  .refine((c) => c.statusUrls.length === 0 || c.statusUrls.length === c.members.length, {
    message: "statusUrls must list every member, in the order of members (or be empty)",
    path: ["statusUrls"],
  });

/** The accounts auth sets up and the mounted Secret holding their passwords (accounts.ts, passwords.ts). */
const accountsSection = z.strictObject({
  /** gRPC services: each may write under `<prefix>/<name>/` and read `<prefix>/`. */
  services: z.array(accountName).min(1),
  /** Read-only accounts (the gateway). */
  readers: z.array(accountName).default([...READERS]),
  /** A directory with one file `<name>-password` per account (the chart mounts the etcd Secret). */
  passwordsDir: z.string().min(1),
});

export const memberInitSchema = z.strictObject({
  log: logSection,
  etcd: etcdSection,
  cluster: clusterSection,
  member: z.strictObject({
    name: z.string().min(1),
    dataDir: z.string().min(1),
    configFile: z.string().min(1),
    listenClientUrls: z.array(url).min(1),
    listenPeerUrls: z.array(url).min(1),
    listenMetricsUrls: z.array(url).default([]),
    token: z.string().min(1).default("dzug-etcd"),
    /** More etcd config-file keys as a YAML/JSON mapping (quota, compaction, TLS, logging). */
    extraConfig: z.string().default(""),
    leaderWaitMs: z.number().int().min(0).default(5_000),
    /** The "a cluster exists" marker on this member's volume (cluster-marker.ts); "" = none. */
    markerFile: z.string().default(""),
    /** Where this member answers GET /dzug/member while it decides (port: its entry in cluster.statusUrls). */
    statusHost: z.string().min(1).default("127.0.0.1"),
    deadlineMs: z.number().int().min(1_000).default(120_000),
  }),
  /** With client auth on: every account's password must be in the mounted Secret before etcd may start, so a
   * Secret missing a key stops the member with the key named instead of leaving etcd open. */
  accounts: accountsSection.optional(),
});

export const authSchema = z.strictObject({
  log: logSection,
  etcd: etcdSection.refine((e) => e.username === "root", {
    message: "must be root's credentials (etcd.username=root)",
    path: ["username"],
  }),
  discovery: discoverySection,
  accounts: accountsSection,
  /** 0 = set up once and exit; otherwise keep checking (a wiped cluster comes back without auth). */
  intervalMs: z.number().int().min(0).default(0),
  /** The pod's "a cluster exists" marker (cluster-marker.ts): written once auth is seen on, served as
   * GET /dzug/member on the status port. "" = none. */
  marker: z
    .strictObject({ file: z.string().default(""), member: z.string().default("") })
    .default({ file: "", member: "" }),
  /** With intervalMs > 0: GET /readyz on this address, 200 once auth is seen on, 503 with the reason (0 = none). */
  status: z
    .strictObject({ host: z.string().min(1).default("127.0.0.1"), port: z.number().int().min(0).max(65535).default(0) })
    .default({ host: "127.0.0.1", port: 0 }),
});

export const pruneSchema = z.strictObject({ log: logSection, etcd: etcdSection, cluster: clusterSection });
