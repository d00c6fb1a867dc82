// A local etcd cluster whose members start exactly as the chart starts them: `node
// platform/etcd-admin/main.ts member-init` (decides new / restart / replace / join, writes the config
// file), then `etcd --config-file`. Optional client auth set up by `main.ts auth`, as the chart's
// etcd pods do. Free loopback ports, temp dirs, kill/wipe/scale.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { createEtcdClient, etcdClientOptions } from "../../platform/discovery/registry/etcd-options.ts";
import { localServices } from "../../scripts/lib/services.ts";
import { etcdBinary } from "./etcd.ts";
import { freePort } from "./ports.ts";
import { errorText, scaled, WaitAborted, waitFor } from "./wait.ts";

const root = join(import.meta.dirname, "../..");
const ADMIN = "platform/etcd-admin/main.ts";

/** The test password of an etcd account (root, a service, the gateway). */
export function accountPassword(account: string): string {
  return `${account}-password-0123456789`;
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  child?: ChildProcess;
  log: string;
  /** What member-init printed before this start (its plan and why). */
  initLog: string;
  /** The last health probe's answer or error while it was not healthy ("" once healthy). */
  lastProbe: string;
}

/** The end of a log, for an error message. */
function tail(log: string, chars = 3_000): string {
  const t = log.trimEnd();
  return t.length > chars ? `…${t.slice(-chars)}` : t || "(empty)";
}

/** Runs a node script to completion; resolves with its output, rejects on a non-zero exit. */
export function runNode(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { PATH: process.env.PATH ?? "", ...env } });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), scaled(timeoutMs));
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`node ${args.join(" ")} exited ${code}:\n${out}`));
    });
  });
}

export class EtcdCluster {
  readonly dir: string;
  readonly members: Member[] = [];
  readonly auth: boolean;
  /** The gRPC services that get an account (each may register under its own prefix). */
  readonly services: string[];
  #desired = 0;
  #authKeeper: ChildProcess | undefined;

  private constructor(dir: string, auth: boolean, services: string[]) {
    this.dir = dir;
    this.auth = auth;
    this.services = services;
  }

  /** `size` members started in parallel through member-init (a new cluster), auth set up when asked. */
  static async start(size: number, opts: { auth?: boolean; services?: string[] } = {}): Promise<EtcdCluster> {
    const services = opts.services ?? (await localServices()).map((s) => s.name);
    const cluster = new EtcdCluster(mkdtempSync(join(tmpdir(), "dzug-etcd-cluster-")), opts.auth ?? true, services);
    try {
      await cluster.scaleUpTo(size, { parallel: true });
      if (cluster.auth) await cluster.setUpAuth();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  get size(): number {
    return this.#desired;
  }

  /** Client URLs of the desired members (what DZUG_ETCD_ENDPOINTS lists). */
  get endpoints(): string[] {
    return this.members.slice(0, this.#desired).map((m) => `http://127.0.0.1:${m.clientPort}`);
  }

  /** DZUG_ETCD_* of a process kind: endpoints plus its account's credentials. */
  envFor(account: string): Record<string, string> {
    const env: Record<string, string> = { DZUG_ETCD_ENDPOINTS: this.endpoints.join(",") };
    if (this.auth && account !== "none") {
      env.DZUG_ETCD_USERNAME = account;
      env.DZUG_ETCD_PASSWORD = accountPassword(account);
    }
    return env;
  }

  async #member(i: number): Promise<Member> {
    while (this.members.length <= i) {
      const n = this.members.length;
      this.members.push({
        name: `etcd-${n}`,
        clientPort: await freePort(),
        peerPort: await freePort(),
        dataDir: join(this.dir, `etcd-${n}`, "data"),
        log: "",
        initLog: "",
        lastProbe: "",
      });
    }
    return this.members[i] as Member;
  }

  /** The desired-members env every admin command takes (chart: from etcd.replicaCount). */
  clusterEnv(count = this.#desired): Record<string, string> {
    const ms = this.members.slice(0, count);
    return {
      ...this.rootEnv(),
      DZUG_CLUSTER_MEMBERS: ms.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(","),
      DZUG_CLUSTER_CLIENT_URLS: ms.map((m) => `http://127.0.0.1:${m.clientPort}`).join(","),
    };
  }

  rootEnv(): Record<string, string> {
    return {
      DZUG_ETCD_USERNAME: "root",
      DZUG_ETCD_PASSWORD: accountPassword("root"),
      DZUG_ETCD_DIAL_TIMEOUT_MS: "1000",
      DZUG_LOG_LEVEL: "warn",
    };
  }

  /** member-init then etcd for member i (as a restarted pod: init container, then the etcd container). */
  async startMember(i: number): Promise<string> {
    const m = await this.#member(i);
    const configFile = join(this.dir, m.name, "etcd.yaml");
    const client = `http://127.0.0.1:${m.clientPort}`;
    const peer = `http://127.0.0.1:${m.peerPort}`;
    const out = await runNode([ADMIN, "member-init"], {
      ...this.clusterEnv(),
      DZUG_LOG_LEVEL: "info",
      DZUG_MEMBER_NAME: m.name,
      DZUG_MEMBER_DATA_DIR: m.dataDir,
      DZUG_MEMBER_CONFIG_FILE: configFile,
      DZUG_MEMBER_LISTEN_CLIENT_URLS: client,
      DZUG_MEMBER_LISTEN_PEER_URLS: peer,
      DZUG_MEMBER_TOKEN: "dzug-test",
      DZUG_MEMBER_LEADER_WAIT_MS: "2000",
      DZUG_MEMBER_EXTRA_CONFIG:
        "log-level: warn\nlogger: zap\nauto-compaction-mode: periodic\nauto-compaction-retention: 1h",
    });
    m.log = "";
    m.initLog = out;
    m.lastProbe = "";
    const child = spawn(etcdBinary(), [`--config-file=${configFile}`], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch },
    });
    m.child = child;
    const keep = (b: Buffer) => {
      m.log = (m.log + b.toString()).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    return out;
  }

  running(i: number): boolean {
    const c = this.members[i]?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Kills member i (SIGKILL: a lost node); with `wipe`, its data dir is gone too (a lost volume). */
  async kill(i: number, opts: { wipe?: boolean } = {}): Promise<void> {
    const m = this.members[i];
    if (m?.child && this.running(i)) {
      const exited = new Promise((r) => m.child?.once("exit", r));
      m.child.kill("SIGKILL");
      await exited;
    }
    if (m && opts.wipe) rmSync(m.dataDir, { recursive: true, force: true });
  }

  async scaleUpTo(size: number, opts: { parallel?: boolean } = {}): Promise<void> {
    const from = this.#desired;
    this.#desired = size;
    for (let i = 0; i < size; i++) await this.#member(i);
    const idx = Array.from({ length: size - from }, (_, k) => from + k);
    if (opts.parallel) await Promise.all(idx.map((i) => this.startMember(i)));
    else for (const i of idx) await this.startMember(i);
    await this.waitHealthy();
  }

  /** What the chart's pre-upgrade hook does before the StatefulSet shrinks, then the pods go. */
  async scaleDownTo(size: number): Promise<void> {
    const from = this.#desired;
    this.#desired = size;
    await runNode([ADMIN, "prune"], this.clusterEnv(size));
    for (let i = size; i < from; i++) await this.kill(i, { wipe: false });
    await this.waitHealthy();
  }

  /** Root (or unauthenticated, without auth) client of the desired members. */
  adminClient(): Etcd3 {
    const tls = { caFile: "", certFile: "", keyFile: "" };
    const access = this.auth ? { username: "root", password: accountPassword("root"), tls } : undefined;
    return createEtcdClient(etcdClientOptions(this.endpoints, 1000, access));
  }

  /** Why member i is not healthy, or "" when its /health says so; a member that exited ends the wait. */
  async #probe(i: number): Promise<string> {
    const m = this.members[i] as Member;
    const c = m.child;
    if (!this.running(i))
      throw new WaitAborted(
        `${m.name} is not running (exit ${c?.exitCode ?? c?.signalCode ?? "never started"}); member-init said:\n` +
          `${tail(m.initLog)}\n${m.name}'s log:\n${tail(m.log)}`,
      );
    try {
      const res = await fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(scaled(1000)) });
      const body = await res.text();
      const healthy = res.ok && (JSON.parse(body) as { health?: string }).health === "true";
      return healthy ? "" : `/health answered ${res.status} ${body.trim()}`;
    } catch (err) {
      return `/health: ${errorText(err)}`;
    }
  }

  /** The member list as the cluster reports it (root's client, or a plain one while auth is off). */
  async #memberNames(): Promise<string[]> {
    const c = this.adminClient();
    try {
      return (await c.cluster.memberList({})).members.map((m) => m.name).sort();
    } catch (err) {
      if (!/authentication is not enabled/.test(String(err))) throw err;
      const plain = new Etcd3({ hosts: this.endpoints, dialTimeout: 1000 });
      try {
        return (await plain.cluster.memberList({})).members.map((m) => m.name).sort();
      } finally {
        plain.close();
      }
    } finally {
      c.close();
    }
  }

  /**
   * Names of the members the cluster lists, once exactly the desired ones are listed, started and
   * healthy. On timeout the error says, per member not healthy, its last probe's answer or error, what
   * member-init decided and the tail of its log.
   */
  async waitHealthy(timeoutMs = 60_000): Promise<string[]> {
    const desired = this.members.slice(0, this.#desired);
    const want = desired.map((m) => m.name).sort();
    let listed = "";
    const describe = () =>
      [
        ...(listed ? [`the cluster lists ${listed}`] : []),
        ...desired
          .filter((m) => m.lastProbe !== "")
          .map(
            (m) =>
              `${m.name} (client port ${m.clientPort}) not healthy: ${m.lastProbe}\nmember-init said:\n` +
              `${tail(m.initLog)}\n${m.name}'s log:\n${tail(m.log)}`,
          ),
      ].join("\n");
    return waitFor(
      async () => {
        for (let i = 0; i < desired.length; i++) {
          const m = desired[i] as Member;
          m.lastProbe = await this.#probe(i);
          if (m.lastProbe !== "") return undefined;
        }
        const names = await this.#memberNames();
        listed = names.join(",");
        return JSON.stringify(names) === JSON.stringify(want) ? names : undefined;
      },
      { timeoutMs, intervalMs: 200, message: `etcd members ${want.join(",")} healthy`, describe },
    );
  }

  /** The auth command's env: root's credentials, the accounts, their passwords as files (chart: the Secret mounted). */
  authEnv(): Record<string, string> {
    const dir = join(this.dir, "accounts");
    mkdirSync(dir, { recursive: true });
    for (const a of [...this.services, "gateway"]) writeFileSync(join(dir, `${a}-password`), accountPassword(a));
    // The chart's Secret holds root's password too (member-init and the keeper check every key is there).
    writeFileSync(join(dir, "root-password"), this.rootEnv().DZUG_ETCD_PASSWORD as string);
    return {
      ...this.rootEnv(),
      DZUG_ETCD_ENDPOINTS: this.endpoints.join(","),
      DZUG_ACCOUNTS_SERVICES: this.services.join(","),
      DZUG_ACCOUNTS_READERS: "gateway",
      DZUG_ACCOUNTS_PASSWORDS_DIR: dir,
    };
  }

  /** `main.ts auth` once (the chart's etcd pods then keep it on with `keepAuth`). */
  async setUpAuth(): Promise<void> {
    await runNode([ADMIN, "auth"], this.authEnv());
  }

  /** The chart's keeper: re-applies auth every `intervalMs` (a wiped cluster comes back open). */
  startAuthKeeper(intervalMs = 1000): void {
    this.#authKeeper = spawn(process.execPath, [ADMIN, "auth"], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        ...this.authEnv(),
        DZUG_INTERVAL_MS: String(intervalMs),
        DZUG_LOG_LEVEL: "info",
      },
      stdio: [
        "ignore",
        openSync(join(this.dir, "auth-keeper.log"), "a"),
        openSync(join(this.dir, "auth-keeper.log"), "a"),
      ],
    });
  }

  keeperLog(): string {
    try {
      return readFileSync(join(this.dir, "auth-keeper.log"), "utf8");
    } catch {
      return "";
    }
  }

  async destroy(): Promise<void> {
    this.#authKeeper?.kill("SIGKILL");
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
