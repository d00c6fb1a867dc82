// Run before etcd starts (the chart's init container; tests run it the same way): looks at the data
// dir and the other members, changes membership when needed (member-plan.ts), and writes the etcd
// --config-file. Membership calls go through a member that reports a leader.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { dirname, join } from "node:path";
import type { Etcd3 } from "etcd3";
import { stringify } from "yaml";
import type { EtcdConfig } from "../config-schema.ts";
import { createEtcdClient, etcdClientOptions } from "../discovery/registry/etcd-options.ts";
import type { Logger } from "../logger.ts";
import { adminClient } from "./admin-client.ts";
import { serveStatus } from "./auth-status.ts";
import { markerPresent, mayBootstrap, peerStates, removeMarker } from "./cluster-marker.ts";
import { type ClusterMember, initialCluster, planStart, type SeedMember, type StartPlan } from "./member-plan.ts";

export interface MemberInitOptions {
  self: SeedMember & { clientUrl: string };
  /** The desired members (name=peerURL) and their client URLs, in the same order. */
  seeds: SeedMember[];
  clientUrls: string[];
  dataDir: string;
  configFile: string;
  listen: { clientUrls: string[]; peerUrls: string[]; metricsUrls: string[] };
  token: string;
  /** More etcd config-file keys (quota, compaction, TLS, logging). */
  extraConfig: Record<string, unknown>;
  etcd: EtcdConfig;
  /** How long to wait for a leader when some member answers without one (a cluster electing). */
  leaderWaitMs: number;
  /** Give up (exit non-zero, the kubelet retries) after this long. */
  deadlineMs: number;
  /** The "a cluster exists" marker on this member's volume; "" = none (cluster-marker.ts). */
  markerFile?: string;
  /** Every member's status URL (same order as seeds; empty = peers are not asked) and where to answer. */
  status?: { host: string; urls: string[] };
  logger: Logger;
}

interface Reached {
  client: Etcd3;
  members: ClusterMember[];
}

function toMembers(list: { ID: string; name: string; peerURLs: string[]; clientURLs: string[] }[]): ClusterMember[] {
  return list.map((m) => ({ id: m.ID, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs }));
}

/** The leader a member reports ("0": none yet), undefined when it does not answer. Status needs neither
 * credentials nor consensus, so even a busy or leaderless member answers it at once. */
async function leaderSeenBy(etcd: EtcdConfig, endpoint: string): Promise<string | undefined> {
  const plain = createEtcdClient(
    etcdClientOptions([endpoint], etcd.dialTimeoutMs, { ...etcd, username: "", password: "" }),
  );
  try {
    return (await plain.maintenance.status({ deadline: Date.now() + etcd.dialTimeoutMs })).leader;
  } catch {
    return undefined;
  } finally {
    plain.close();
  }
}

/**
 * A member with a leader among `endpoints`, reached as root; undefined when none answers with one.
 * Once a member reports a leader, failing to administer through it (root's login is a raft round trip
 * plus bcrypt: slow on a busy machine) is an error to retry, never "no cluster": a member whose volume
 * was lost would bootstrap a new cluster and crash-loop on "member already bootstrapped", and init
 * containers do not run again when their pod's containers restart.
 */
async function reachCluster(etcd: EtcdConfig, endpoints: string[]): Promise<{ reached?: Reached; answered: boolean }> {
  let answered = false;
  let adminError: unknown;
  for (const endpoint of endpoints) {
    const leader = await leaderSeenBy(etcd, endpoint);
    if (leader === undefined) continue;
    answered = true;
    if (leader === "0") continue;
    let admin: Awaited<ReturnType<typeof adminClient>> | undefined;
    try {
      admin = await adminClient(etcd, [endpoint]);
      const list = await admin.client.cluster.memberList({}, { deadline: Date.now() + etcd.dialTimeoutMs });
      return { reached: { client: admin.client, members: toMembers(list.members) }, answered };
    } catch (err) {
      admin?.client.close();
      adminError = err;
    }
  }
  if (adminError) throw new Error(`a member reports a leader but cannot be administered: ${String(adminError)}`);
  return { answered };
}

function hasData(dataDir: string): boolean {
  return existsSync(join(dataDir, "member", "wal"));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Decides, applies the membership change, writes the config file; returns the plan it followed. */
export async function initMember(o: MemberInitOptions): Promise<StartPlan> {
  const others = o.clientUrls.filter((u) => u !== o.self.clientUrl);
  const deadline = Date.now() + o.deadlineMs;
  const server = await answerPeers(o);
  let lastError: unknown;
  try {
    while (Date.now() < deadline) {
      try {
        return await attempt(o, others);
      } catch (err) {
        lastError = err;
        o.logger.warn({ err }, "etcd member init attempt failed; retrying");
        await sleep(1_000);
      }
    }
  } finally {
    server?.close();
  }
  throw new Error(`etcd member init gave up after ${o.deadlineMs} ms: ${(lastError as Error)?.message}`);
}

/** While deciding, tell the other members whether this pod has seen a cluster (its marker). */
async function answerPeers(o: MemberInitOptions): Promise<Server | undefined> {
  const i = o.seeds.findIndex((s) => s.name === o.self.name);
  const own = o.status?.urls[i];
  if (!o.status || !own) return undefined;
  const marker = o.markerFile ?? "";
  const member = () => ({ name: o.self.name, clusterExists: marker !== "" && markerPresent(marker) });
  return serveStatus(o.status.host, Number(new URL(own).port), { member });
}

/** A member without data and without a leader in sight: may it bootstrap? Throws (retry) when not. */
async function checkMayBootstrap(o: MemberInitOptions): Promise<void> {
  if (o.markerFile && markerPresent(o.markerFile))
    throw new Error("no data, but this volume's marker says a cluster exists: waiting for its leader");
  if (!o.status || o.status.urls.length === 0) return;
  const i = o.seeds.findIndex((s) => s.name === o.self.name);
  const urls = o.status.urls.filter((_, j) => j !== i);
  const verdict = mayBootstrap(await peerStates(urls, o.etcd.dialTimeoutMs), urls);
  if (!verdict.ok) throw new Error(verdict.reason);
}

async function attempt(o: MemberInitOptions, others: string[]): Promise<StartPlan> {
  let found = await reachCluster(o.etcd, others);
  const waitUntil = Date.now() + o.leaderWaitMs;
  while (!found.reached && found.answered && Date.now() < waitUntil) {
    await sleep(500);
    found = await reachCluster(o.etcd, others);
  }
  const reached = found.reached;
  try {
    if (!reached && !hasData(o.dataDir)) await checkMayBootstrap(o);
    const plan = planStart(o.self, hasData(o.dataDir), reached ? { members: reached.members } : undefined);
    o.logger.info({ plan, member: o.self.name }, plan.reason);
    let members = reached?.members ?? [];
    if (plan.wipe) {
      rmSync(o.dataDir, { recursive: true, force: true });
      if (o.markerFile) removeMarker(o.markerFile);
    }
    if (reached && plan.removeId) {
      await reached.client.cluster.memberRemove({ ID: plan.removeId });
      members = members.filter((m) => m.id !== plan.removeId);
    }
    if (reached && plan.add) {
      const added = await reached.client.cluster.memberAdd({ peerURLs: [o.self.peerUrl] });
      members = toMembers(added.members);
    }
    const cluster =
      plan.state === "new" || !reached
        ? o.seeds.map((s) => `${s.name}=${s.peerUrl}`).join(",")
        : initialCluster(o.self, o.seeds, members);
    writeConfig(o, plan.state, cluster);
    return plan;
  } finally {
    reached?.client.close();
  }
}

function writeConfig(o: MemberInitOptions, state: "new" | "existing", cluster: string): void {
  const config = {
    name: o.self.name,
    "data-dir": o.dataDir,
    "listen-client-urls": o.listen.clientUrls.join(","),
    "advertise-client-urls": o.self.clientUrl,
    "listen-peer-urls": o.listen.peerUrls.join(","),
    "initial-advertise-peer-urls": o.self.peerUrl,
    ...(o.listen.metricsUrls.length > 0 ? { "listen-metrics-urls": o.listen.metricsUrls.join(",") } : {}),
    "initial-cluster": cluster,
    "initial-cluster-state": state,
    "initial-cluster-token": o.token,
    ...o.extraConfig,
  };
  mkdirSync(dirname(o.configFile), { recursive: true });
  writeFileSync(o.configFile, stringify(config));
}
