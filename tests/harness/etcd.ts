// A real etcd process for tests: free loopback ports, a temp data dir, stop/restart/wipe.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, urlHost } from "./ports.ts";
import { errorText, WaitAborted, waitFor } from "./wait.ts";

export function etcdBinary(): string {
  const found = spawnSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === "") {
    throw new Error("etcd is not on PATH: install it with `apt-get install -y etcd-server` (Debian)");
  }
  return path;
}

export class EtcdProcess {
  readonly dataDir: string;
  /** The loopback address etcd listens on (127.0.0.1, or ::1 for the IPv6 runs). */
  readonly host: string;
  clientPort = 0;
  peerPort = 0;
  private child: ChildProcess | undefined;
  private log = "";

  private constructor(dataDir: string, host: string) {
    this.dataDir = dataDir;
    this.host = host;
  }

  static async start(opts: { host?: string } = {}): Promise<EtcdProcess> {
    const host = opts.host ?? "127.0.0.1";
    const etcd = new EtcdProcess(mkdtempSync(join(tmpdir(), "dzug-etcd-")), host);
    etcd.clientPort = await freePort(host);
    etcd.peerPort = await freePort(host);
    await etcd.launch();
    return etcd;
  }

  get endpoint(): string {
    return `http://${urlHost(this.host)}:${this.clientPort}`;
  }

  /** The etcd process id while it runs (benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private async launch(): Promise<void> {
    const client = this.endpoint;
    const peer = `http://${urlHost(this.host)}:${this.peerPort}`;
    this.log = "";
    const child = spawn(
      etcdBinary(),
      [
        "--name=test",
        `--data-dir=${this.dataDir}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=test=${peer}`,
        "--initial-cluster-state=new",
        "--log-level=warn",
        "--logger=zap",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch } },
    );
    this.child = child;
    const keep = (b: Buffer) => {
      this.log = (this.log + b.toString()).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let lastProbe = "";
    await waitFor(
      async () => {
        if (!this.running) throw new WaitAborted(`etcd exited (${child.exitCode ?? child.signalCode}): ${this.log}`);
        try {
          const res = await fetch(`${client}/health`);
          const body = await res.text();
          lastProbe = `${res.status} ${body.trim()}`;
          return res.ok && (JSON.parse(body) as { health?: string }).health === "true";
        } catch (err) {
          lastProbe = errorText(err);
          throw err;
        }
      },
      {
        timeoutMs: 20_000,
        message: `etcd healthy on ${client}`,
        describe: () => `last /health: ${lastProbe}\netcd's log:\n${this.log.slice(-3_000)}`,
      },
    );
  }

  /** Stops the process (SIGTERM, then SIGKILL after 5 s); the data dir stays. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts again on the same ports; with `wipe`, on an empty data dir (all keys and leases gone). */
  async restart(opts: { wipe?: boolean } = {}): Promise<void> {
    await this.stop();
    if (opts.wipe) rmSync(this.dataDir, { recursive: true, force: true });
    await this.launch();
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
