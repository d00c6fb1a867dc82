// Running processes from a locally built image with buildah (no Docker engine needed): one working
// container per process (`buildah from`), the process started by `buildah run --isolation chroot`.
// Chroot isolation shares the host's network and PID namespace: the container's ports are host ports,
// and the container's node process is a host process we can signal directly (buildah run itself does
// not forward SIGTERM: it kills its child), which is how Kubernetes would stop the container's PID 1.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "../..");

export function hasBuildah(): boolean {
  return spawnSync("sh", ["-c", "command -v buildah"], { encoding: "utf8" }).status === 0;
}

/** Runs a command to completion, keeping the tail of its output; rejects with it on failure. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const keep = (b: Buffer) => {
      out = (out + b.toString()).slice(-50_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} failed (${code ?? signal}):\n${out.slice(-8_000)}`));
    });
  });
}

/** Makes the base image if missing and builds the app image (layer cache makes a rebuild quick). */
export async function buildImage(image: string): Promise<string> {
  return run(join(root, "scripts/image/build.sh"), [], {
    env: { ...process.env, DZUG_IMAGE: image },
    timeoutMs: 20 * 60_000,
  });
}

/** The image's OCI config (user, entrypoint, cmd, env, exposed ports, labels). */
export async function imageConfig(image: string): Promise<{
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string>;
}> {
  // (buildah 1.28's --format has no `json` function: parse the whole inspect document.)
  const out = await run("buildah", ["inspect", "--type", "image", image]);
  return (JSON.parse(out) as { OCIv1: { config: Awaited<ReturnType<typeof imageConfig>> } }).OCIv1.config;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/)) {
        if (c !== "" && !out.includes(Number(c))) out.push(Number(c));
      }
    } catch {
      // the task ended
    }
  }
  return out;
}

function argv0(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
  } catch {
    return "";
  }
}

export class ContainerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #log = "";

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    const keep = (b: Buffer) => {
      this.#log = (this.#log + b.toString()).slice(-100_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    return this.#log;
  }

  /** The host pid of the node process inside the container (under buildah-chroot-runtime/-exec). */
  nodePid(): number | undefined {
    const queue = this.child.pid === undefined ? [] : [this.child.pid];
    while (queue.length > 0) {
      const pid = queue.shift() as number;
      if (pid !== this.child.pid && /(^|\/)node$/.test(argv0(pid))) return pid;
      queue.push(...childrenOf(pid));
    }
    return undefined;
  }

  /** Signals the node process itself and waits for buildah run to report its exit code. */
  async signal(signal: NodeJS.Signals, timeoutMs = 30_000): Promise<number | null> {
    const pid = this.nodePid();
    if (pid !== undefined && this.running) process.kill(pid, signal);
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Hard stop of the container process and of buildah run (teardown). */
  kill(): void {
    const pid = this.nodePid();
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (this.running) this.child.kill("SIGKILL");
  }
}

/** One working container from `image`; `exec` starts a process in it, `remove` deletes it. */
export class WorkingContainer {
  readonly id: string;
  readonly processes: ContainerProcess[] = [];

  private constructor(id: string) {
    this.id = id;
  }

  static async create(image: string, name: string): Promise<WorkingContainer> {
    const out = await run("buildah", ["from", "--pull=never", "--quiet", "--name", name, image]);
    return new WorkingContainer(out.trim().split("\n").pop() as string);
  }

  exec(argv: string[], env: Record<string, string> = {}): ContainerProcess {
    const envArgs = Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]);
    const child = spawn("buildah", ["run", "--isolation", "chroot", ...envArgs, this.id, "--", ...argv], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const p = new ContainerProcess(`${this.id}: ${argv.join(" ")}`, child);
    this.processes.push(p);
    return p;
  }

  /** Runs a short command in the container and returns its stdout+stderr. */
  async output(argv: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
    const p = this.exec(argv, env);
    const code = await p.exited;
    return { code, out: p.logs() };
  }

  async remove(): Promise<void> {
    for (const p of this.processes) p.kill();
    await Promise.all(this.processes.map((p) => p.exited));
    await run("buildah", ["rm", this.id]).catch(() => {});
  }
}

/** Removes working containers left by image test runs that were killed (their test pid is gone). */
export async function removeStaleContainers(): Promise<void> {
  const out = await run("buildah", ["containers", "--noheading", "--format", "{{.ContainerName}}"]);
  for (const name of out.split("\n").map((l) => l.trim())) {
    const m = /^dzug-image-test-[a-z]+-(\d+)-[0-9a-f]+$/.exec(name);
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (!alive) await run("buildah", ["rm", name]).catch(() => {});
  }
}
