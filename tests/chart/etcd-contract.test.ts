// The rendered etcd StatefulSet (default values: 3 members, client auth on) run as its pods would run:
// for each member, the member-init init container, then the etcd and auth containers, each a local
// process with the command, args and env exactly as rendered (tests/chart/local-pod.ts swaps only what
// Kubernetes provides: pod name, the pod's IP for 0.0.0.0, member DNS names -> a loopback address per
// pod with the rendered ports, the rendered Secrets, volumes -> temp dirs, image binaries -> local ones).
// Proves, on real etcd processes: the members form one cluster, the auth containers close it, a write
// under a service's prefix is refused without credentials or with another service's, the service's own
// account writes, the gateway's only reads; a member killed with its volume lost rejoins through its
// init container.
//
// etcd here is Debian's 3.4 (tests/harness/etcd.ts), the chart's image is 3.5: every rendered flag and
// config key is accepted by 3.4, but the probes' /readyz and /livez exist only from 3.5.11 on, so health
// is read from /health on the same metrics port.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../platform/config.ts";
import { serviceDir } from "../../platform/discovery/record.ts";
import { passwordKey, roleOf } from "../../platform/etcd-admin/accounts.ts";
import { adminClient } from "../../platform/etcd-admin/admin-client.ts";
import { authSchema } from "../../platform/etcd-admin/config.ts";
import { etcdBinary } from "../harness/etcd.ts";
import { EtcdAnswers } from "../harness/etcd-answers.ts";
import { loopbackAddresses } from "../harness/ports.ts";
import { waitFor } from "../harness/wait.ts";
import { CHART, find, type K8sObject, podSpecOf, render } from "./helpers.ts";
import { type LocalPodMap, LocalProcess, localCommand, logMessages, prepareVolumes, secretsOf } from "./local-pod.ts";

interface Pod {
  map: LocalPodMap;
  containers: Map<string, LocalProcess>;
  /** Output of the last run of its init containers (for failure messages). */
  initLog: string;
}

interface MemberView {
  id: string;
  name: string;
  clientURLs: string[];
}

describe("chart etcd StatefulSet run as rendered (3 members, client auth on)", () => {
  let dir = "";
  let sts: K8sObject;
  let spec: any;
  const pods: Pod[] = [];
  const processes: LocalProcess[] = [];
  let auth: ReturnType<typeof loadConfig<typeof authSchema>>["config"];
  let etcd: EtcdAnswers;
  let bootMs = 0;

  const container = (name: string) => {
    const c = [...(spec.initContainers ?? []), ...spec.containers].find((x: any) => x.name === name);
    assert.ok(c, `the etcd pod has no container ${name}`);
    return c;
  };
  const portOf = (name: string) => container("etcd").ports.find((p: any) => p.name === name).containerPort as number;

  /** A pod (re)started: volumes, init containers to completion in order, then every container. */
  async function startPod(pod: Pod): Promise<void> {
    prepareVolumes(spec, sts.spec.volumeClaimTemplates ?? [], pod.map);
    for (const c of spec.initContainers ?? []) {
      const p = new LocalProcess(`${pod.map.podName}/${c.name}`, localCommand(c, pod.map));
      processes.push(p);
      pod.initLog = await p.completed(90_000);
    }
    for (const c of spec.containers) {
      const p = new LocalProcess(`${pod.map.podName}/${c.name}`, localCommand(c, pod.map));
      processes.push(p);
      pod.containers.set(c.name, p);
    }
  }

  /** The member list once every pod's etcd is healthy and the cluster lists exactly the pods, all started. */
  async function healthyMembers(timeoutMs = 60_000): Promise<MemberView[]> {
    const names = pods.map((p) => p.map.podName).sort();
    return waitFor(
      async () => {
        for (const pod of pods) {
          const etcd = pod.containers.get("etcd");
          if (!etcd?.running)
            throw new Error(`${pod.map.podName}/etcd is not running:\n${etcd?.log}\ninit:\n${pod.initLog}`);
          const res = await fetch(`http://${pod.map.podIp}:${portOf("metrics")}/health`, {
            signal: AbortSignal.timeout(2000),
          });
          if (!res.ok || ((await res.json()) as { health?: string }).health !== "true") return undefined;
        }
        const admin = await adminClient(auth.etcd);
        try {
          const list = (await admin.client.cluster.memberList({})).members;
          const started = list.every((m) => m.name !== "" && m.clientURLs.length > 0);
          const listed = list.map((m) => m.name).sort();
          if (!started || JSON.stringify(listed) !== JSON.stringify(names)) return undefined;
          return list.map((m) => ({ id: m.ID, name: m.name, clientURLs: m.clientURLs }));
        } finally {
          admin.client.close();
        }
      },
      { timeoutMs, intervalMs: 250, message: `etcd members ${names.join(", ")} healthy` },
    );
  }

  before(async () => {
    const objects = await render([]);
    sts = find(objects, "StatefulSet", "dzug-etcd");
    spec = podSpecOf(sts);
    const replicas = sts.spec.replicas as number;
    assert.equal(replicas, 3);
    dir = mkdtempSync(join(tmpdir(), "dzug-etcd-contract-"));
    // Each pod gets its own loopback address, so every member keeps the rendered ports.
    const ports = spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.containerPort as number));
    const ips = await loopbackAddresses(replicas, ports);
    const { clusterDomain } = parseYaml(readFileSync(join(CHART, "values.yaml"), "utf8")) as { clusterDomain: string };
    const podName = (i: number) => `${sts.metadata.name}-${i}`;
    // The DNS name Kubernetes gives StatefulSet pod i: <pod>.<serviceName>.<namespace>.svc.<clusterDomain>.
    const hosts = Object.fromEntries(
      ips.map((ip, i) => [`${podName(i)}.${sts.spec.serviceName}.${sts.metadata.namespace}.svc.${clusterDomain}`, ip]),
    );
    const commands = { node: process.execPath, "/usr/local/bin/etcd": etcdBinary() };
    const secrets = secretsOf(objects);
    for (let i = 0; i < replicas; i++) {
      const volumesDir = join(dir, podName(i));
      const baseEnv: Record<string, string> = {
        PATH: process.env.PATH ?? "",
        HOME: volumesDir,
        NODE_ENV: "production",
      };
      // Debian's etcd 3.4 refuses to start on arm64 unless told the architecture is known to be unsupported.
      if (process.arch !== "x64") baseEnv.ETCD_UNSUPPORTED_ARCH = process.arch;
      const map = { podName: podName(i), podIp: ips[i] as string, hosts, secrets, volumesDir, commands, baseEnv };
      pods.push({ map, containers: new Map(), initLog: "" });
    }
    // What the auth container reads (the same config code), with pod 0's stand-ins: root, accounts, prefix.
    auth = loadConfig(authSchema, localCommand(container("auth"), (pods[0] as Pod).map).env).config;
    // podManagementPolicy: Parallel, as rendered: every pod starts at once.
    assert.equal(sts.spec.podManagementPolicy, "Parallel");
    const started = Date.now();
    await Promise.all(pods.map((p) => startPod(p)));
    // The processes' passwords, from the auth container's view of the mounted Secret.
    const accounts = [...auth.accounts.services, ...auth.accounts.readers];
    etcd = new EtcdAnswers(
      auth.etcd.endpoints,
      Object.fromEntries(
        accounts.map((a) => [a, readFileSync(join(auth.accounts.passwordsDir, passwordKey(a)), "utf8")]),
      ),
    );
    await healthyMembers();
    bootMs = Date.now() - started;
  });

  after(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the members form one healthy cluster, each advertising its rendered address", async (t) => {
    t.diagnostic(`3 pods started in parallel: cluster healthy after ${bootMs} ms`);
    const members = await healthyMembers();
    const rendered = auth.etcd.endpoints; // DZUG_ETCD_ENDPOINTS as rendered, member DNS names swapped
    for (const m of members) {
      const i = pods.findIndex((p) => p.map.podName === m.name);
      assert.deepEqual(m.clientURLs, [rendered[i]], `${m.name} advertises its rendered client URL`);
    }
  });

  test("the auth containers turn client auth on with one role per account", async (t) => {
    const started = Date.now();
    await waitFor(
      async () => "refused" in (await etcd.answer(undefined, (c) => c.get(`${auth.discovery.prefix}/`).string())),
      {
        timeoutMs: 30_000,
        intervalMs: 250,
        message: "anonymous reads refused (auth on)",
      },
    );
    t.diagnostic(`auth on ${bootMs + Date.now() - started} ms after the pods started`);
    const admin = await adminClient(auth.etcd);
    try {
      assert.ok(admin.authenticated, "root authenticates");
      const roles = (await admin.client.getRoles()).map((r) => r.name);
      for (const a of [...auth.accounts.services, ...auth.accounts.readers]) assert.ok(roles.includes(roleOf(a)));
    } finally {
      admin.client.close();
    }
  });

  test("a write under the user service's prefix: refused without credentials or as another service", async () => {
    const key = `${serviceDir(auth.discovery.prefix, "user")}hijack`;
    await etcd.putRefused(undefined, key);
    const others = auth.accounts.services.filter((s) => s !== "user");
    assert.ok(others.length > 0, "another service has an account");
    for (const other of others) await etcd.putRefused(other, key);
  });

  test("the user service writes under its prefix; the gateway reads but cannot write", async () => {
    const key = `${serviceDir(auth.discovery.prefix, "user")}contract`;
    await etcd.allowed("user", (c) => c.put(key).value("registered").exec());
    assert.deepEqual(auth.accounts.readers, ["gateway"]);
    assert.equal(await etcd.allowed("gateway", (c) => c.get(key).string()), "registered");
    await etcd.putRefused("gateway", key);
  });

  test("member 1 killed with its volume lost rejoins through its rendered init container", async (t) => {
    const pod = pods[1] as Pod;
    const before = await healthyMembers();
    const oldId = before.find((m) => m.name === pod.map.podName)?.id;
    const key = `${serviceDir(auth.discovery.prefix, "user")}before-rejoin`;
    await etcd.allowed("user", (c) => c.put(key).value("kept").exec());
    const started = Date.now();
    // The pod is gone with its node: every container killed, its PVC and emptyDirs lost.
    await Promise.all([...pod.containers.values()].map((p) => p.kill()));
    pod.containers.clear();
    rmSync(pod.map.volumesDir, { recursive: true, force: true });
    await startPod(pod);
    const after = await healthyMembers(90_000);
    t.diagnostic(`member 1 back and the cluster healthy ${Date.now() - started} ms after the kill`);
    t.diagnostic(`member-init: ${logMessages(pod.initLog).join(" | ")}`);
    const newId = after.find((m) => m.name === pod.map.podName)?.id;
    assert.ok(newId && newId !== oldId, "member 1 was replaced (new member id), not restarted from data");
    // Its own copy of the data, read from it alone (serializable: no round trip to the leader).
    const own = [auth.etcd.endpoints[1] as string];
    const replicated = await waitFor(
      () => etcd.allowed("gateway", (c) => c.get(key).serializable(true).string(), own),
      {
        timeoutMs: 30_000,
        message: "the key replicated to the rejoined member",
      },
    );
    assert.equal(replicated, "kept");
    await etcd.putRefused(undefined, key, own);
  });
});
