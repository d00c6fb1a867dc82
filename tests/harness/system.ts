// The whole dzug system as real processes for end-to-end tests: a real etcd, N instances of each
// service and the gateway, on free loopback ports, with a temp SQLite file (or a given database URL).
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localServices } from "../../scripts/lib/services.ts";
import { EtcdProcess } from "./etcd.ts";
import { assertDocumentedAnswer } from "./openapi.ts";
import { freePort, urlHost } from "./ports.ts";
import { waitFor } from "./wait.ts";

const root = join(import.meta.dirname, "../..");

/**
 * How long a process may take to become ready: a Node process compiles its imports first, and with
 * several test systems starting on a 2-core machine that alone has taken over 30 s (a deadline, not a wait).
 */
const STARTUP_TIMEOUT_MS = 90_000;

export const TEST_JWT_SECRET = "SuHdmm4Pz89c17hxeHBnPpath3J8rBABxbYj6Lme8ZI=";

/** A folder under services/ with a main.ts (scripts/lib/services.ts). */
export type ServiceName = string;
const SERVICES = await localServices();
const takesAuth = new Set(SERVICES.filter((s) => s.takesAuth).map((s) => s.name));

export class ProcessHandle {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  readonly #log: WriteStream;

  /**
   * `script` (relative to `o.cwd`, default the repo) run by this Node, or by `o.launcher` (a command and
   * its arguments put before Node, e.g. valgrind: bench/lib/callgrind.ts). Output goes to `<name>.log`.
   */
  constructor(
    name: string,
    script: string,
    env: Record<string, string>,
    logDir: string,
    o: { cwd?: string; launcher?: [string, string[]] } = {},
  ) {
    this.name = name;
    this.logFile = join(logDir, `${name}.log`);
    this.#log = createWriteStream(this.logFile);
    const [command, args] = o.launcher
      ? [o.launcher[0], [...o.launcher[1], process.execPath, script]]
      : [process.execPath, [script]];
    this.child = spawn(command, args, {
      cwd: o.cwd ?? root,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.pipe(this.#log, { end: false });
    this.child.stderr?.pipe(this.#log, { end: false });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /** Sends `signal` and waits for the exit code (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 30_000): Promise<number | null> {
    if (this.running) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }
}

export class ServiceInstance extends ProcessHandle {
  readonly service: ServiceName;
  readonly grpcPort: number;
  readonly adminPort: number;
  /** The loopback address it listens on and advertises. */
  readonly host: string;
  constructor(
    service: ServiceName,
    name: string,
    ports: { grpc: number; admin: number },
    env: Record<string, string>,
    logDir: string,
    host = "127.0.0.1",
  ) {
    super(name, `services/${service}/main.ts`, env, logDir);
    this.service = service;
    this.grpcPort = ports.grpc;
    this.adminPort = ports.admin;
    this.host = host;
  }
  get address(): string {
    return `${urlHost(this.host)}:${this.grpcPort}`;
  }
  /** Its admin listener: /metrics, /healthz, /readyz. */
  get adminUrl(): string {
    return `http://${urlHost(this.host)}:${this.adminPort}`;
  }
}

export interface SystemOptions {
  /** Instances of the user service (default 2). */
  users?: number;
  /** Instances of the relation service (default 2). */
  relations?: number;
  /**
   * Instances of each service (by folder name under services/); when given, a service it does not name
   * gets none. Without it: `users`, `relations` (default 2 each) and 1 of each other service.
   */
  replicas?: Partial<Record<ServiceName, number>>;
  gateway?: boolean;
  databaseUrl?: string;
  /** Extra environment for every process (e.g. a short lease TTL, OTEL_* variables). */
  env?: Record<string, string>;
  /**
   * "generous" (default): every test client is 127.0.0.1, so the gateway's per-address limits are
   * raised far above what a test sends; "defaults": the shipped limits, for tests of the limits.
   */
  rateLimits?: "generous" | "defaults";
  /** An etcd the caller runs (e.g. an EtcdCluster with auth); each process gets its account's env. */
  etcd?: ExternalEtcd;
  /**
   * The loopback address every process (etcd, services, gateway) listens on, advertises and is called
   * at: "127.0.0.1" (default) or "::1" (the system on IPv6 only).
   */
  host?: "127.0.0.1" | "::1";
}

/** "gateway" or a service name. */
export type EtcdAccount = string;

export interface ExternalEtcd {
  /** DZUG_ETCD_* (endpoints, credentials) of one process kind. */
  envFor(account: EtcdAccount): Record<string, string>;
}

/** Per-address limits no test reaches (tests of the limits ask for the defaults). */
const GENEROUS_RATE_LIMITS: Record<string, string> = {
  DZUG_RATE_LIMIT_REGISTER_PER_ADDRESS_BURST: "1000000",
  DZUG_RATE_LIMIT_LOGIN_PER_ADDRESS_BURST: "1000000",
  DZUG_RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS_BURST: "1000000",
  DZUG_RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME_BURST: "1000000",
  DZUG_RATE_LIMIT_CREDENTIALS_IN_FLIGHT_PER_ADDRESS: "0",
};

export class DzugSystem {
  readonly #etcd: EtcdProcess | undefined;
  readonly #external: ExternalEtcd | undefined;
  readonly dir: string;
  readonly databaseUrl: string;
  readonly env: Record<string, string>;
  readonly rateLimits: "generous" | "defaults";
  readonly host: string;
  readonly instances: ServiceInstance[] = [];
  gateway: ProcessHandle | undefined;
  gatewayPort = 0;
  gatewayAdminPort = 0;
  #seq = 0;

  private constructor(etcd: EtcdProcess | undefined, dir: string, opts: SystemOptions) {
    this.#etcd = etcd;
    this.#external = opts.etcd;
    this.dir = dir;
    this.databaseUrl = opts.databaseUrl ?? `sqlite:${join(dir, "dzug.db")}`;
    this.env = opts.env ?? {};
    this.rateLimits = opts.rateLimits ?? "generous";
    this.host = opts.host ?? "127.0.0.1";
  }

  static async start(opts: SystemOptions = {}): Promise<DzugSystem> {
    const dir = mkdtempSync(join(tmpdir(), "dzug-system-"));
    const etcd = opts.etcd ? undefined : await EtcdProcess.start({ host: opts.host });
    const system = new DzugSystem(etcd, dir, opts);
    try {
      // The first service's first instance alone (its migrations run once), then the rest in parallel.
      const counts = SERVICES.map(({ name: svc }) => [svc, replicasOf(svc, opts)] as const).filter(([, n]) => n > 0);
      const [first, ...rest] = counts.flatMap(([svc, n]) => Array.from({ length: n }, () => svc));
      if (first) await system.addInstance(first);
      await Promise.all(rest.map((svc) => system.addInstance(svc)));
      if (opts.gateway ?? true) await system.startGateway();
    } catch (err) {
      await system.destroy();
      throw err;
    }
    return system;
  }

  /** The gateway's API. */
  get url(): string {
    return `http://${urlHost(this.host)}:${this.gatewayPort}`;
  }

  /** The gateway's admin listener: /metrics, /healthz, /readyz, /_dzug/status. */
  get adminUrl(): string {
    return `http://${urlHost(this.host)}:${this.gatewayAdminPort}`;
  }

  /** The system's own etcd (not there when the caller passed one). */
  get etcd(): EtcdProcess {
    if (!this.#etcd) throw new Error("this system runs on an external etcd");
    return this.#etcd;
  }

  commonEnv(account: EtcdAccount = "gateway"): Record<string, string> {
    return {
      ...(this.#external ? this.#external.envFor(account) : { DZUG_ETCD_ENDPOINTS: this.etcd.endpoint }),
      DZUG_LOG_LEVEL: "info",
      DZUG_SHUTDOWN_DRAIN_TIMEOUT_MS: "5000",
      ...this.env,
    };
  }

  /** Starts one more instance of `service` and waits until it is registered (its /readyz says so). */
  async addInstance(service: ServiceName, extraEnv: Record<string, string> = {}): Promise<ServiceInstance> {
    const ports = { grpc: await freePort(this.host), admin: await freePort(this.host) };
    const name = `${service}-${++this.#seq}`;
    const env: Record<string, string> = {
      ...this.commonEnv(service),
      DZUG_GRPC_HOST: this.host,
      DZUG_GRPC_PORT: String(ports.grpc),
      DZUG_ADMIN_PORT: String(ports.admin),
      // Bare, as the chart's downward API gives a pod IP: the service brackets an IPv6 one itself.
      DZUG_DISCOVERY_ADVERTISE_HOST: this.host,
      DZUG_DATABASE_URL: this.databaseUrl,
      ...(takesAuth.has(service) ? { DZUG_AUTH_JWT_SECRET: TEST_JWT_SECRET } : {}),
      ...extraEnv,
    };
    const inst = new ServiceInstance(service, name, ports, env, this.dir, this.host);
    this.instances.push(inst);
    await waitFor(
      async () => {
        if (!inst.running) throw new Error(`${name} exited:\n${inst.logs()}`);
        const res = await fetch(`${inst.adminUrl}/readyz`);
        return res.status === 200;
      },
      { timeoutMs: STARTUP_TIMEOUT_MS, message: `${name} ready` },
    );
    return inst;
  }

  async startGateway(extraEnv: Record<string, string> = {}): Promise<void> {
    this.gatewayPort = await freePort(this.host);
    this.gatewayAdminPort = await freePort(this.host);
    const gw = new ProcessHandle(
      `gateway-${++this.#seq}`,
      "gateway/main.ts",
      {
        // The system's env (commonEnv) may set one limit back within reach while the others stay generous.
        ...(this.rateLimits === "generous" ? GENEROUS_RATE_LIMITS : {}),
        ...this.commonEnv(),
        DZUG_HTTP_HOST: this.host,
        DZUG_HTTP_PORT: String(this.gatewayPort),
        DZUG_ADMIN_PORT: String(this.gatewayAdminPort),
        DZUG_AUTH_JWT_SECRET: TEST_JWT_SECRET,
        ...extraEnv,
      },
      this.dir,
    );
    this.gateway = gw;
    await waitFor(
      async () => {
        if (!gw.running) throw new Error(`gateway exited:\n${gw.logs()}`);
        return (await fetch(`${this.adminUrl}/readyz`)).status === 200;
      },
      { timeoutMs: STARTUP_TIMEOUT_MS, message: "gateway ready" },
    );
  }

  live(service?: ServiceName): ServiceInstance[] {
    return this.instances.filter((i) => i.running && (service === undefined || i.service === service));
  }

  async destroy(): Promise<void> {
    const procs: ProcessHandle[] = [...this.instances, ...(this.gateway ? [this.gateway] : [])];
    await Promise.all(procs.map((p) => p.stop("SIGTERM", 10_000)));
    await this.#etcd?.destroy();
    if (!process.env.DZUG_KEEP_TEST_LOGS) rmSync(this.dir, { recursive: true, force: true });
  }
}

function replicasOf(svc: ServiceName, opts: SystemOptions): number {
  if (opts.replicas) return opts.replicas[svc] ?? 0;
  if (svc === "user") return opts.users ?? 2;
  if (svc === "relation") return opts.relations ?? 2;
  return 1;
}

/** Calls the gateway and returns status + parsed JSON body. */
export async function call(
  base: string,
  method: "GET" | "POST",
  path: string,
  params: Record<string, string | number> = {},
): Promise<{ status: number; body: Record<string, any> }> {
  const qs = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  const res = await fetch(`${base}${path}?${qs}`, { method });
  const text = await res.text();
  let body: Record<string, any>;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  assertDocumentedAnswer(method, path, res.status, body);
  return { status: res.status, body };
}
