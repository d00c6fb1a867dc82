// Contract between the chart and the code: each rendered workload (user, relation, gateway) is run as a
// local Node process with its container's command, args and env (WORKDIR /app = the repo), in-cluster
// addresses swapped for loopback (real etcd from tests/harness, a temp SQLite file for the database,
// test secrets, status.podIP -> 127.0.0.1; ports kept as rendered unless taken, then remapped
// consistently). Then: every containerPort listens, every probe answers, Service targetPorts name
// container ports, scrape annotations reach a live /metrics, every env var set is one the config
// reads, and SIGTERM ends each process within terminationGracePeriodSeconds.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createChannel, createClient } from "nice-grpc";
import { HealthDefinition } from "nice-grpc-server-health";
import { localServices } from "../../scripts/lib/services.ts";
import { accountPassword, EtcdCluster } from "../harness/etcd-cluster.ts";
import { freePort } from "../harness/ports.ts";
import { waitFor } from "../harness/wait.ts";
import { find, type K8sObject, podSpecOf, REPO_ROOT, render } from "./helpers.ts";

const SERVICES = await localServices();
const SERVICE_NAMES = SERVICES.map((s) => s.name);
const WORKLOADS = [...SERVICE_NAMES, "gateway"];
type Workload = string;
const mainOf = (w: Workload) => (w === "gateway" ? "gateway/main.ts" : `services/${w}/main.ts`);
const MAINS = Object.fromEntries(WORKLOADS.map((w) => [w, mainOf(w)])) as Record<Workload, string>;
const missing = Object.values(MAINS).filter((m) => !existsSync(join(REPO_ROOT, m)));
/** Variables Node itself reads (the heap bound the chart sets from config.maxOldSpaceMiB), not the config. */
const NODE_READS = new Set(["NODE_OPTIONS"]);
const JWT = "RVOaQaVh3HSDjL14r/kZibkJeezmUdYzX5u/CO8QntU=";

interface Running {
  name: Workload;
  container: any;
  pod: any;
  ports: Map<number, number>; // rendered containerPort -> local port
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "0.0.0.0", () => srv.close(() => resolve(true)));
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function grpcServing(port: number, service = ""): Promise<boolean> {
  const channel = createChannel(`127.0.0.1:${port}`);
  try {
    const client = createClient(HealthDefinition, channel);
    const r = await client.check({ service }, { signal: AbortSignal.timeout(2000) });
    return r.status === 1; // SERVING
  } finally {
    channel.close();
  }
}

/** The container port a probe or Service refers to (by name or number). */
function containerPortOf(container: any, ref: string | number): number {
  if (typeof ref === "number") return ref;
  const p = container.ports.find((x: any) => x.name === ref);
  assert.ok(p, `${container.name}: no port named ${ref}`);
  return p.containerPort;
}

async function configEnvNames(w: Workload): Promise<Set<string>> {
  const { configLeaves } = await import("../../platform/config.ts");
  // Each service's config.ts exports `<name>ConfigSchema` (the convention npm run new:service follows).
  const module = await import(`../../${w === "gateway" ? "gateway" : `services/${w}`}/config.ts`);
  const schema = module[`${w}ConfigSchema`];
  assert.ok(schema, `${w}/config.ts exports ${w}ConfigSchema`);
  return new Set(configLeaves(schema).map((l: { env: string }) => l.env));
}

describe("chart <-> code contract", {
  skip: missing.length > 0 ? `not written yet: ${missing.join(", ")}` : false,
}, () => {
  let objects: K8sObject[] = [];
  let etcd: EtcdCluster | undefined;
  let dir = "";
  const running = new Map<Workload, Running>();
  const taken = new Set<number>();

  async function localPort(rendered: number): Promise<number> {
    if (!taken.has(rendered) && (await portFree(rendered))) {
      taken.add(rendered);
      return rendered;
    }
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    return p;
  }

  async function start(name: Workload): Promise<Running> {
    const dep = find(objects, "Deployment", `dzug-${name}`);
    const pod = podSpecOf(dep);
    const container = pod.containers[0];
    const ports = new Map<number, number>();
    for (const p of container.ports) ports.set(p.containerPort, await localPort(p.containerPort));
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: dir, NODE_ENV: "production" };
    for (const e of container.env ?? []) {
      let value: string;
      if (e.value !== undefined) {
        value = String(e.value);
        if (e.name === "DZUG_ETCD_ENDPOINTS") value = etcd?.endpoints.join(",") ?? "";
        else if (/^\d+$/.test(value) && ports.has(Number(value))) value = String(ports.get(Number(value)));
      } else if (e.valueFrom?.fieldRef?.fieldPath === "status.podIP") {
        value = "127.0.0.1";
      } else if (e.valueFrom?.secretKeyRef && e.name === "DZUG_DATABASE_URL") {
        value = `sqlite:${join(dir, `${name}.db`)}`;
      } else if (e.valueFrom?.secretKeyRef && e.name === "DZUG_AUTH_JWT_SECRET") {
        value = JWT;
      } else if (e.valueFrom?.secretKeyRef && e.name === "DZUG_ETCD_PASSWORD") {
        // The chart's etcd Secret holds <account>-password; the local cluster was set up with the same accounts.
        value = accountPassword(String(e.valueFrom.secretKeyRef.key).replace(/-password$/, ""));
      } else {
        throw new Error(`${name}: no local stand-in for env ${e.name}`);
      }
      env[e.name] = value;
    }
    const [cmd, ...args] = [...(container.command ?? ["node"]), ...(container.args ?? [])];
    assert.equal(cmd, "node");
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const r: Running = {
      name,
      container,
      pod,
      ports,
      child,
      log: "",
      exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
    };
    const keep = (b: Buffer) => {
      r.log = (r.log + b.toString()).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    running.set(name, r);
    return r;
  }

  async function probeOk(r: Running, probe: any): Promise<boolean> {
    if (probe.grpc)
      return grpcServing(r.ports.get(containerPortOf(r.container, probe.grpc.port)) ?? 0, probe.grpc.service ?? "");
    if (probe.httpGet) {
      const port = r.ports.get(containerPortOf(r.container, probe.httpGet.port));
      const res = await fetch(`http://127.0.0.1:${port}${probe.httpGet.path}`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.status >= 200 && res.status < 400;
    }
    throw new Error(`${r.name}: unsupported probe ${JSON.stringify(probe)}`);
  }

  before(async () => {
    objects = await render([]);
    // etcd as the chart runs it: members through member-init, client auth on (platform/etcd-admin).
    etcd = await EtcdCluster.start(1, { auth: true });
    dir = mkdtempSync(join(tmpdir(), "dzug-contract-"));
    // Services first: the gateway is ready once it sees an instance of each in etcd.
    for (const w of WORKLOADS) {
      const r = await start(w);
      await waitFor(
        async () => {
          if (r.child.exitCode !== null) throw new Error(`${w} exited (${r.child.exitCode}):\n${r.log}`);
          return probeOk(r, r.container.readinessProbe);
        },
        { timeoutMs: 30_000, message: `${w} ready per its readinessProbe` },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- ${w} log ---\n${r.log}`);
      });
    }
  });

  after(async () => {
    for (const r of running.values()) if (r.child.exitCode === null) r.child.kill("SIGKILL");
    await etcd?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const w of WORKLOADS) {
    test(`${w}: every env var the chart sets is a config key the process reads`, async () => {
      const known = await configEnvNames(w);
      const container = find(objects, "Deployment", `dzug-${w}`).spec.template.spec.containers[0];
      const unknown = (container.env ?? [])
        .map((e: any) => e.name)
        .filter((n: string) => !known.has(n) && !NODE_READS.has(n));
      assert.deepEqual(unknown, [], `${w} sets env its config does not read`);
    });

    test(`${w}: every containerPort listens and every probe answers`, async () => {
      const r = running.get(w);
      assert.ok(r);
      for (const [rendered, local] of r.ports)
        assert.ok(await listening(local), `${w}: containerPort ${rendered} (local ${local}) is not listened on`);
      for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        const probe = r.container[kind];
        if (probe) assert.ok(await probeOk(r, probe), `${w}: ${kind} ${JSON.stringify(probe)} fails`);
      }
    });

    test(`${w}: Service targetPorts are container ports`, () => {
      const r = running.get(w);
      assert.ok(r);
      const svc = find(objects, "Service", `dzug-${w}`);
      for (const p of svc.spec.ports) assert.ok(r.ports.has(containerPortOf(r.container, p.targetPort)));
    });

    test(`${w}: prometheus.io annotations point at a live /metrics`, async () => {
      const r = running.get(w);
      assert.ok(r);
      const ann = find(objects, "Deployment", `dzug-${w}`).spec.template.metadata.annotations;
      assert.equal(ann["prometheus.io/scrape"], "true");
      const port = r.ports.get(Number(ann["prometheus.io/port"]));
      assert.ok(port, `${w}: annotated port ${ann["prometheus.io/port"]} is no containerPort`);
      const res = await fetch(`http://127.0.0.1:${port}${ann["prometheus.io/path"]}`);
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.match(text, /^# (HELP|TYPE) /m);
      assert.match(text, /dzug_/);
    });
  }

  test("etcd admin containers (member-init, auth keeper, prune hook) set only keys their commands read", async () => {
    const { configLeaves } = await import("../../platform/config.ts");
    const { authSchema, memberInitSchema, pruneSchema } = await import("../../platform/etcd-admin/config.ts");
    const sts = podSpecOf(find(objects, "StatefulSet", "dzug-etcd"));
    const job = podSpecOf(find(objects, "Job", "dzug-etcd-prune"));
    const cases = [
      [sts.initContainers[0], memberInitSchema, "member-init"],
      [sts.containers.find((c: any) => c.name === "auth"), authSchema, "auth"],
      [job.containers[0], pruneSchema, "prune"],
    ] as const;
    for (const [container, schema, command] of cases) {
      assert.deepEqual(container.args, ["platform/etcd-admin/main.ts", command]);
      const known = new Set(configLeaves(schema).map((l: { env: string }) => l.env));
      const unknown = container.env.map((e: any) => e.name).filter((n: string) => !known.has(n));
      assert.deepEqual(unknown, [], `${command} sets env its config does not read`);
    }
  });

  test("gateway reaches both services through etcd (register + login through the API)", async () => {
    const gw = running.get("gateway");
    assert.ok(gw);
    const base = `http://127.0.0.1:${gw.ports.get(8080)}`;
    const name = `contract${Date.now()}`;
    const reg = await fetch(`${base}/douyin/user/register/?username=${name}&password=contract-pass-1`, {
      method: "POST",
    });
    const body = (await reg.json()) as { status_code: number; token?: string };
    assert.equal(body.status_code, 0, JSON.stringify(body));
    const login = await fetch(`${base}/douyin/user/login/?username=${name}&password=contract-pass-1`, {
      method: "POST",
    });
    assert.equal(((await login.json()) as { status_code: number }).status_code, 0);
  });

  test("gateway: the API port (the one the Ingress routes) serves no operations endpoint; the metrics port does", async () => {
    const gw = running.get("gateway");
    assert.ok(gw);
    const api = `http://127.0.0.1:${gw.ports.get(containerPortOf(gw.container, "http"))}`;
    const admin = `http://127.0.0.1:${gw.ports.get(containerPortOf(gw.container, "metrics"))}`;
    for (const path of ["/metrics", "/_dzug/status", "/healthz", "/readyz"]) {
      const res = await fetch(`${api}${path}`);
      await res.arrayBuffer();
      assert.equal(res.status, 404, `API port ${path}`);
      const ops = await fetch(`${admin}${path}`);
      await ops.arrayBuffer();
      assert.equal(ops.status, 200, `metrics port ${path}`);
    }
    assert.equal((await fetch(`${api}/openapi.json`)).status, 200);
  });

  const exitCodes = new Map<Workload, number | null>();

  test("SIGTERM: each process exits within terminationGracePeriodSeconds", async () => {
    // Gateway first, as a rollout would drain it before the services it calls.
    for (const w of ["gateway", ...SERVICE_NAMES]) {
      const r = running.get(w);
      assert.ok(r);
      const graceMs = r.pod.terminationGracePeriodSeconds * 1000;
      r.child.kill("SIGTERM");
      const code = await Promise.race([
        r.exited,
        new Promise<"timeout">((res) => setTimeout(res, graceMs, "timeout").unref()),
      ]);
      assert.notEqual(code, "timeout", `${w} still running ${graceMs} ms after SIGTERM:\n${r.log}`);
      exitCodes.set(w, code as number | null);
    }
  });

  test("SIGTERM: each process exits with code 0", () => {
    for (const w of WORKLOADS) {
      assert.equal(exitCodes.get(w), 0, `${w} exit code after SIGTERM:\n${running.get(w)?.log.slice(-2000)}`);
    }
  });
});
