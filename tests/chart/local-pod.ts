// A rendered pod run on this machine: each container becomes a local process with its command, args and
// env exactly as rendered; only what Kubernetes itself provides is swapped for a local stand-in, through
// one explicit map (LocalPodMap):
//   fieldRef metadata.name      -> map.podName
//   fieldRef status.podIP       -> map.podIp
//   0.0.0.0, :: (all interfaces) -> map.podIp (the pod's own address: several pods share this machine)
//   in-cluster DNS names        -> map.hosts (e.g. a loopback address per pod, ports kept as rendered)
//   secretKeyRef, secret volume -> map.secrets (the rendered Secrets' data, as a fresh install has them)
//   a volume's mountPath        -> a directory per volume under map.volumesDir (emptyDir, secret, PVC); by
//                                  every container's mounts: a path one container writes for another to read
//                                  (member-init writes the etcd container's TLS file paths) maps too
//   the image's command path    -> map.commands (e.g. node -> this Node, /usr/local/bin/etcd -> Debian's etcd)
// Anything else the spec asks of Kubernetes fails loudly: nothing is guessed.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type K8sObject, REPO_ROOT } from "./helpers.ts";

export interface LocalPodMap {
  podName: string;
  podIp: string;
  hosts: Record<string, string>;
  secrets: Record<string, Record<string, string>>;
  volumesDir: string;
  commands: Record<string, string>;
  /** The image's own environment (Dockerfile ENV) and what the host needs; rendered env wins. */
  baseEnv: Record<string, string>;
}

export interface LocalCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The decoded data of every rendered Secret, by name. */
export function secretsOf(objects: K8sObject[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const s of objects.filter((o) => o.kind === "Secret")) {
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries((s.data ?? {}) as Record<string, string>))
      data[k] = Buffer.from(v, "base64").toString("utf8");
    Object.assign(data, s.stringData ?? {});
    out[s.metadata.name] = data;
  }
  return out;
}

function volumeDir(map: LocalPodMap, volume: string): string {
  return join(map.volumesDir, volume);
}

/** Creates the pod's volumes: pod spec volumes (emptyDir, secret) and the StatefulSet's claim templates. */
export function prepareVolumes(pod: any, claimTemplates: any[], map: LocalPodMap): void {
  for (const claim of claimTemplates) mkdirSync(volumeDir(map, claim.metadata.name), { recursive: true });
  for (const v of pod.volumes ?? []) {
    const dir = volumeDir(map, v.name);
    mkdirSync(dir, { recursive: true });
    if (v.emptyDir) continue;
    if (!v.secret) throw new Error(`volume ${v.name}: no local stand-in for ${JSON.stringify(v)}`);
    const data = map.secrets[v.secret.secretName];
    if (!data) throw new Error(`volume ${v.name}: no Secret ${v.secret.secretName}`);
    const items: { key: string; path: string }[] =
      v.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const { key, path } of items) writeFileSync(join(dir, path), data[key] ?? "", { mode: 0o440 });
  }
}

/** mountPath -> volume name over every container of the pod (one path, one volume). */
function podMounts(pod: any): [string, string][] {
  const mounts = new Map<string, string>();
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    for (const m of c.volumeMounts ?? []) {
      if (m.subPath) throw new Error(`${c.name}: subPath mounts are not supported`);
      const other = mounts.get(m.mountPath);
      if (other && other !== m.name) throw new Error(`${m.mountPath} mounts both ${other} and ${m.name}`);
      mounts.set(m.mountPath, m.name);
    }
  }
  return [...mounts].sort(([a], [b]) => b.length - a.length);
}

/** Rewrites one rendered string: mount paths, then in-cluster host names and 0.0.0.0 or :: (whole names only). */
function localize(value: string, pod: any, map: LocalPodMap): string {
  if (/\$\([A-Za-z_]/.test(value)) throw new Error(`$(VAR) expansion is not supported: ${value}`);
  if (value === "::") return map.podIp; // "every address", as 0.0.0.0 below
  let out = value;
  for (const [path, volume] of podMounts(pod))
    out = out.replace(new RegExp(`(?<![\\w./-])${escapeRegExp(path)}(?=/|$|[^\\w.-])`, "g"), volumeDir(map, volume));
  for (const [host, ip] of Object.entries({ ...map.hosts, "0.0.0.0": map.podIp }))
    out = out.replace(new RegExp(`(?<![\\w.-])${escapeRegExp(host)}(?![\\w.-])`, "g"), ip);
  return out;
}

function envValue(e: any, pod: any, container: any, map: LocalPodMap): string {
  if (e.value !== undefined) return localize(String(e.value), pod, map);
  const field = e.valueFrom?.fieldRef?.fieldPath;
  if (field === "metadata.name") return map.podName;
  if (field === "status.podIP") return map.podIp;
  const ref = e.valueFrom?.secretKeyRef;
  if (ref) {
    const v = map.secrets[ref.name]?.[ref.key];
    if (v === undefined) throw new Error(`${container.name}: env ${e.name}: no key ${ref.key} in Secret ${ref.name}`);
    return v;
  }
  throw new Error(`${container.name}: no local stand-in for env ${e.name}: ${JSON.stringify(e.valueFrom)}`);
}

/** The local command line and environment of a rendered container of `pod` (a pod spec). */
export function localCommand(pod: any, container: any, map: LocalPodMap): LocalCommand {
  if (container.envFrom) throw new Error(`${container.name}: envFrom is not supported`);
  const [cmd, ...rest] = [...(container.command ?? []), ...(container.args ?? [])];
  if (cmd === undefined) throw new Error(`${container.name}: no command (the image's entrypoint is not known here)`);
  const file = map.commands[cmd];
  if (!file) throw new Error(`${container.name}: no local binary for the image's ${cmd}`);
  const env = { ...map.baseEnv };
  for (const e of container.env ?? []) env[e.name] = envValue(e, pod, container, map);
  return { file, args: rest.map((a: string) => localize(a, pod, map)), env };
}

/** A container running as a local process (cwd = the repo: the dzug image's WORKDIR /app). */
export class LocalProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  log = "";

  constructor(name: string, cmd: LocalCommand) {
    this.name = name;
    this.child = spawn(cmd.file, cmd.args, { cwd: REPO_ROOT, env: cmd.env, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    const keep = (b: Buffer) => {
      this.log = (this.log + b.toString()).slice(-20_000);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL (a lost node), resolved once the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** An init container: runs to completion; rejects on a non-zero exit or after `timeoutMs`. */
  async completed(timeoutMs: number): Promise<string> {
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`${this.name} exited ${code ?? this.child.signalCode}:\n${this.log}`);
    return this.log;
  }
}

/** The `msg` of each JSON log line (pino), for diagnostics. */
export function logMessages(log: string): string[] {
  return log
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return String((JSON.parse(l) as { msg?: string }).msg);
      } catch {
        return l;
      }
    });
}
