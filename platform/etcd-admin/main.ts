// `node platform/etcd-admin/main.ts <command>` from the dzug image (charts/dzug/templates/etcd.yaml):
//   member-init  decide how this member starts, change membership, write the etcd --config-file
//   auth         turn client auth on with root + one account per process kind (and keep it on)
//   prune        remove members beyond the desired list (before a scale-down)
import { parse as parseYaml } from "yaml";
import { ConfigError, loadConfig } from "../config.ts";
import { createLogger } from "../logger.ts";
import { AuthStatus, serveStatus } from "./auth-status.ts";
import { markerPresent, writeMarker } from "./cluster-marker.ts";
import { authSchema, memberInitSchema, pruneSchema } from "./config.ts";
import { ensureAuth, keepAuth, pruneMembers } from "./maintain.ts";
import { initMember } from "./member-init.ts";
import { parseSeeds } from "./member-plan.ts";
import { accountsWithPasswords, readPasswords } from "./passwords.ts";

const COMMANDS = ["member-init", "auth", "prune"] as const;

async function memberInit(): Promise<void> {
  const { config } = loadConfig(memberInitSchema);
  const logger = createLogger({ level: config.log.level, service: "etcd-member-init", instance: config.member.name });
  // Before anything else: a member must not start (and serve unauthenticated) without every account's password.
  if (config.accounts) readPasswords(config.accounts);
  const seeds = parseSeeds(config.cluster.members);
  const index = seeds.findIndex((s) => s.name === config.member.name);
  if (index < 0) throw new ConfigError(`member.name ${config.member.name} is not in cluster.members`);
  const extra = config.member.extraConfig ? (parseYaml(config.member.extraConfig) ?? {}) : {};
  if (typeof extra !== "object" || Array.isArray(extra)) throw new ConfigError("member.extraConfig must be a mapping");
  await initMember({
    self: { ...(seeds[index] as (typeof seeds)[number]), clientUrl: config.cluster.clientUrls[index] as string },
    seeds,
    clientUrls: config.cluster.clientUrls,
    dataDir: config.member.dataDir,
    configFile: config.member.configFile,
    listen: {
      clientUrls: config.member.listenClientUrls,
      peerUrls: config.member.listenPeerUrls,
      metricsUrls: config.member.listenMetricsUrls,
    },
    token: config.member.token,
    extraConfig: extra as Record<string, unknown>,
    etcd: config.etcd,
    leaderWaitMs: config.member.leaderWaitMs,
    markerFile: config.member.markerFile,
    status: { host: config.member.statusHost, urls: config.cluster.statusUrls },
    deadlineMs: config.member.deadlineMs,
    logger,
  });
  logger.flush();
}

async function auth(): Promise<void> {
  const { config } = loadConfig(authSchema);
  const logger = createLogger({ level: config.log.level, service: "etcd-auth", instance: "" });
  const setup = {
    prefix: config.discovery.prefix,
    rootPassword: config.etcd.password,
    accounts: accountsWithPasswords(config.accounts),
  };
  const stop = new AbortController();
  for (const s of ["SIGTERM", "SIGINT"] as const) process.once(s, () => stop.abort());
  if (config.intervalMs === 0) {
    await ensureAuth(config.etcd, setup, true, logger);
  } else {
    const status = new AuthStatus();
    const { file, member } = config.marker;
    const routes = {
      ready: status,
      ...(file ? { member: () => ({ name: member, clusterExists: markerPresent(file) }) } : {}),
    };
    const server =
      config.status.port > 0 ? await serveStatus(config.status.host, config.status.port, routes) : undefined;
    await keepAuth(config.etcd, setup, config.intervalMs, logger, stop.signal, status, () => {
      if (file) writeMarker(file);
    });
    server?.close();
  }
  logger.flush();
}

async function prune(): Promise<void> {
  const { config } = loadConfig(pruneSchema);
  const logger = createLogger({ level: config.log.level, service: "etcd-prune", instance: "" });
  const etcd = { ...config.etcd, endpoints: config.cluster.clientUrls };
  await pruneMembers(etcd, parseSeeds(config.cluster.members), logger);
  logger.flush();
}

const command = process.argv[2];
try {
  if (command === "member-init") await memberInit();
  else if (command === "auth") await auth();
  else if (command === "prune") await prune();
  else throw new ConfigError(`usage: node platform/etcd-admin/main.ts ${COMMANDS.join("|")}`);
  process.exit(0);
} catch (err) {
  process.stderr.write(
    `etcd-admin ${command ?? ""}: ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? err)}\n`,
  );
  process.exit(1);
}
