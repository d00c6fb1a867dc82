// `npm run up`: the whole system locally — etcd (data in .data/etcd), 2× every service under
// services/ (scripts/lib/services.ts) and the gateway on http://localhost:8080 (its admin listener, with the
// status page, on http://localhost:9464 as in the chart's port-forward), every process's logs prefixed with its
// name. Ctrl-C stops the services first (each revokes its lease, then drains), then etcd.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { type LocalService, localServices } from "./lib/services.ts";
import { ETCD, ensurePrerequisites } from "./prerequisites.ts";

const root = join(import.meta.dirname, "..");
const dataDir = join(root, ".data");
const env = process.env;
const num = (name: string, dflt: number) => (env[name] ? Number(env[name]) : dflt);
const ports = {
  etcd: num("UP_ETCD_PORT", 2379),
  etcdPeer: num("UP_ETCD_PEER_PORT", 2380),
  http: num("UP_HTTP_PORT", 8080),
  grpcBase: num("UP_GRPC_BASE_PORT", 50051),
  /** The gateway's admin port; the services' admin ports follow it. */
  adminBase: num("UP_ADMIN_BASE_PORT", 9464),
};
const serviceAdminPort = (slot: number) => ports.adminBase + 1 + slot;
const replicas = num("UP_REPLICAS", 2);

const missing = ensurePrerequisites([ETCD], { install: true });
if (missing.length > 0) {
  for (const m of missing) console.error(m);
  process.exit(1);
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

const needed = [ports.etcd, ports.etcdPeer, ports.http, ports.adminBase];
const services = await localServices();
for (let i = 0; i < services.length * replicas; i++) needed.push(ports.grpcBase + i, serviceAdminPort(i));
for (const p of needed) {
  if (await portInUse(p)) {
    console.error(
      `port ${p} is already in use (another \`npm run up\`?): stop it, or move ports with UP_HTTP_PORT / UP_ETCD_PORT / UP_GRPC_BASE_PORT / UP_ADMIN_BASE_PORT`,
    );
    process.exit(1);
  }
}

mkdirSync(dataDir, { recursive: true });
const secretFile = join(dataDir, "jwt-secret");
if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(32).toString("base64url"), { mode: 0o600 });
const jwtSecret = readFileSync(secretFile, "utf8").trim();

const colors = [36, 33, 35, 32, 34, 91, 92, 93];
const children: Array<{ name: string; child: ChildProcess; kind: "etcd" | "app" }> = [];
let stopping = false;

function start(
  name: string,
  kind: "etcd" | "app",
  cmd: string,
  args: string[],
  extraEnv: Record<string, string>,
): ChildProcess {
  const color = colors[children.length % colors.length];
  const tag = `\x1b[${color}m${name.padEnd(10)}\x1b[0m|`;
  // Own process group: the terminal's Ctrl-C reaches only this script, which stops the services
  // (they deregister and drain) before etcd.
  const child = spawn(cmd, args, {
    cwd: root,
    env: { ...env, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on("line", (line) => process.stdout.write(`${tag} ${line}\n`));
  }
  child.on("exit", (code, signal) => {
    process.stdout.write(`${tag} exited (${signal ?? code})\n`);
    if (!stopping) process.stdout.write(`${tag} stopped unexpectedly; the others keep running (Ctrl-C stops all)\n`);
  });
  children.push({ name, child, kind });
  return child;
}

const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
start(
  "etcd",
  "etcd",
  "etcd",
  [
    "--name=dzug-local",
    `--data-dir=${join(dataDir, "etcd")}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-cluster=dzug-local=http://127.0.0.1:${ports.etcdPeer}`,
    "--log-level=warn",
    "--logger=zap",
  ],
  {},
);

const deadline = Date.now() + 20_000;
for (;;) {
  try {
    const res = await fetch(`${etcdUrl}/health`);
    if (res.ok) break;
  } catch {}
  if (Date.now() > deadline) {
    console.error(`etcd did not become healthy on ${etcdUrl} within 20 s`);
    await shutdown(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}

const common = { DZUG_ETCD_ENDPOINTS: etcdUrl };
// The JWT secret goes to the services whose configuration has an auth section (those that issue tokens).
const serviceEnv = (svc: LocalService): Record<string, string> =>
  svc.takesAuth ? { DZUG_AUTH_JWT_SECRET: jwtSecret } : {};
const storage = {
  DZUG_DATABASE_URL: env.DZUG_DATABASE_URL ?? `sqlite:${join(dataDir, "dzug.db")}`,
  DZUG_DISCOVERY_ADVERTISE_HOST: "127.0.0.1",
  DZUG_GRPC_HOST: "127.0.0.1",
};
const node = process.execPath;
let slot = 0;
for (const svc of services) {
  for (let i = 1; i <= replicas; i++, slot++) {
    start(`${svc.name}-${i}`, "app", node, [`services/${svc.name}/main.ts`], {
      ...common,
      ...storage,
      ...serviceEnv(svc),
      DZUG_GRPC_PORT: String(ports.grpcBase + slot),
      DZUG_ADMIN_PORT: String(serviceAdminPort(slot)),
    });
  }
}
start("gateway", "app", node, ["gateway/main.ts"], {
  ...common,
  DZUG_AUTH_JWT_SECRET: jwtSecret,
  DZUG_HTTP_PORT: String(ports.http),
  DZUG_ADMIN_PORT: String(ports.adminBase),
  // As behind an ingress: a local proxy (or `npm run load`, which simulates many clients) may name
  // the client in X-Forwarded-For; the rate limits key on it.
  DZUG_HTTP_TRUST_PROXY: "loopback",
});
process.stdout.write(
  [
    "",
    `API:     http://localhost:${ports.http}/douyin/user/register/?username=alice&password=secret123 (POST)`,
    `Status:  http://localhost:${ports.adminBase}/_dzug/status (the gateway's admin port, with /metrics and /readyz)`,
    "Ctrl-C stops everything.",
    "",
    "",
  ].join("\n"),
);

async function stopAll(kind: "etcd" | "app"): Promise<void> {
  await Promise.all(
    children
      .filter((c) => c.kind === kind && c.child.exitCode === null && c.child.signalCode === null)
      .map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill("SIGTERM");
          }),
      ),
  );
}

async function shutdown(code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => {}); // already stopping (npm forwards Ctrl-C too)
  stopping = true;
  await stopAll("app");
  await stopAll("etcd");
  process.exit(code);
}

process.on("exit", () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
