// The rendered etcd StatefulSet run as its pods would run (tests/chart/etcd-contract.test.ts): per pod,
// the init containers to completion in order, then every container, each a local process as rendered
// (tests/chart/local-pod.ts). Pod i gets its own loopback address, standing for its pod IP and its member
// DNS name, so every member keeps the rendered ports.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../platform/config.ts";
import { passwordKey } from "../../platform/etcd-admin/accounts.ts";
import { adminClient } from "../../platform/etcd-admin/admin-client.ts";
import { authSchema } from "../../platform/etcd-admin/config.ts";
import { etcdBinary } from "../harness/etcd.ts";
import { EtcdAnswers } from "../harness/etcd-answers.ts";
import { loopbackAddresses } from "../harness/ports.ts";
import { waitFor } from "../harness/wait.ts";
import { CHART, find, type K8sObject, podSpecOf, render } from "./helpers.ts";
import { type LocalPodMap, LocalProcess, localCommand, prepareVolumes, secretsOf } from "./local-pod.ts";

export interface EtcdPod {
  map: LocalPodMap;
  /** The pod template it was created from (JSON): a StatefulSet rolls the pods whose template changed. */
  template: string;
  containers: Map<string, LocalProcess>;
  /** Output of the last run of its init containers (for failure messages). */
  initLog: string;
}

export interface MemberView {
  id: string;
  name: string;
  clientURLs: string[];
  peerURLs: string[];
}

export interface RenderedEtcdOptions {
  /** `helm template` arguments on top of the defaults. */
  helmArgs: string[];
  /** Secrets the values name as existing (not rendered), made once the pods' names and addresses are known. */
  existingSecrets?: (names: { dnsNames: string[]; ips: string[] }) => Record<string, Record<string, string>>;
  /** Addresses for this many pods (a later revision may scale up); default: the rendered replicas. */
  maxReplicas?: number;
}

export class RenderedEtcd {
  sts: K8sObject;
  spec: any;
  pods: EtcdPod[] = [];
  /** What Kubernetes keeps across revisions: the Secrets as first created (generated ones are looked up and
   * kept on upgrade), the member addresses. */
  readonly secrets: Record<string, Record<string, string>>;
  readonly hosts: Record<string, string>;
  readonly ips: string[];
  /** What the auth container reads (the same config code), with pod 0's stand-ins: root, accounts, prefix. */
  readonly auth: ReturnType<typeof loadConfig<typeof authSchema>>["config"];
  /** The member-init container's environment with pod 0's stand-ins. */
  readonly memberInitEnv: Record<string, string>;
  readonly #dir: string;
  readonly #processes: LocalProcess[] = [];
  bootMs = 0;

  private constructor(
    sts: K8sObject,
    dir: string,
    net: { ips: string[]; hosts: Record<string, string>; secrets: Record<string, Record<string, string>> },
  ) {
    this.sts = sts;
    this.spec = podSpecOf(sts);
    this.#dir = dir;
    this.ips = net.ips;
    this.hosts = net.hosts;
    this.secrets = net.secrets;
    this.pods = Array.from({ length: sts.spec.replicas }, (_, i) => this.newPod(i));
    const pod0 = (this.pods[0] as EtcdPod).map;
    this.auth = loadConfig(authSchema, localCommand(this.spec, this.container("auth"), pod0).env).config;
    this.memberInitEnv = localCommand(this.spec, this.container("member-init"), pod0).env;
  }

  /** Renders, starts every pod at once (podManagementPolicy: Parallel, as rendered), waits for a healthy cluster. */
  static async start(opts: RenderedEtcdOptions): Promise<RenderedEtcd> {
    const objects = await render(opts.helmArgs);
    const sts = find(objects, "StatefulSet", "dzug-etcd");
    assert.equal(sts.spec.podManagementPolicy, "Parallel");
    const spec = podSpecOf(sts);
    const ports = spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.containerPort as number));
    const ips = await loopbackAddresses(opts.maxReplicas ?? sts.spec.replicas, ports);
    const { clusterDomain } = parseYaml(readFileSync(join(CHART, "values.yaml"), "utf8")) as { clusterDomain: string };
    // The DNS name Kubernetes gives StatefulSet pod i: <pod>.<serviceName>.<namespace>.svc.<clusterDomain>.
    const dnsNames = ips.map(
      (_, i) => `${sts.metadata.name}-${i}.${sts.spec.serviceName}.${sts.metadata.namespace}.svc.${clusterDomain}`,
    );
    const hosts = Object.fromEntries(dnsNames.map((name, i) => [name, ips[i] as string]));
    const secrets = { ...secretsOf(objects), ...opts.existingSecrets?.({ dnsNames, ips }) };
    const dir = mkdtempSync(join(tmpdir(), "dzug-etcd-pods-"));
    const etcd = new RenderedEtcd(sts, dir, { ips, hosts, secrets });
    try {
      const started = Date.now();
      await Promise.all(etcd.pods.map((p) => etcd.startPod(p)));
      await etcd.healthyMembers();
      etcd.bootMs = Date.now() - started;
    } catch (err) {
      await etcd.destroy();
      throw err;
    }
    return etcd;
  }

  /** The local stand-ins of a pod named `podName` at `podIp` (its volumes under the run's temp dir). */
  podMap(podName: string, podIp: string): LocalPodMap {
    const volumesDir = join(this.#dir, podName);
    // The dzug image's ENV (NODE_ENV); Debian's etcd 3.4 starts on arm64 only when told the arch is unsupported.
    const baseEnv: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: volumesDir, NODE_ENV: "production" };
    if (process.arch !== "x64") baseEnv.ETCD_UNSUPPORTED_ARCH = process.arch;
    const commands = {
      node: process.execPath,
      "/usr/local/bin/etcd": etcdBinary(),
      "/usr/local/bin/etcdctl": join(dirname(etcdBinary()), "etcdctl"),
    };
    return { podName, podIp, hosts: this.hosts, secrets: this.secrets, volumesDir, commands, baseEnv };
  }

  /** StatefulSet pod `i` as the current template would create it (not started). */
  newPod(i: number): EtcdPod {
    const ip = this.ips[i];
    assert.ok(ip, `no address for pod ${i}: pass maxReplicas`);
    const map = this.podMap(`${this.sts.metadata.name}-${i}`, ip);
    return { map, template: JSON.stringify(this.spec), containers: new Map(), initLog: "" };
  }

  /** Runs a rendered pod spec to completion (a hook Job's or a helm test pod's), every container at once. */
  async runToCompletion(name: string, spec: any, timeoutMs = 60_000): Promise<string> {
    const map = this.podMap(name, "127.0.0.1");
    prepareVolumes(spec, [], map);
    const runs = spec.containers.map((c: any) => {
      const p = new LocalProcess(`${name}/${c.name}`, localCommand(spec, c, map));
      this.#processes.push(p);
      return p.completed(timeoutMs);
    });
    return (await Promise.all(runs)).join("\n");
  }

  container(name: string): any {
    const c = [...(this.spec.initContainers ?? []), ...this.spec.containers].find((x: any) => x.name === name);
    assert.ok(c, `the etcd pod has no container ${name}`);
    return c;
  }

  /** The etcd container's port named `name` (as rendered). */
  portOf(name: string): number {
    return this.container("etcd").ports.find((p: any) => p.name === name).containerPort;
  }

  /** A pod (re)started: volumes, init containers to completion in order, then every container. */
  async startPod(pod: EtcdPod): Promise<void> {
    pod.template = JSON.stringify(this.spec);
    prepareVolumes(this.spec, this.sts.spec.volumeClaimTemplates ?? [], pod.map);
    for (const c of this.spec.initContainers ?? []) {
      const p = new LocalProcess(`${pod.map.podName}/${c.name}`, localCommand(this.spec, c, pod.map));
      this.#processes.push(p);
      pod.initLog = await p.completed(90_000);
    }
    for (const c of this.spec.containers) {
      const p = new LocalProcess(`${pod.map.podName}/${c.name}`, localCommand(this.spec, c, pod.map));
      this.#processes.push(p);
      pod.containers.set(c.name, p);
    }
  }

  /** The pod gone with its node: every container killed, its volumes (PVC, emptyDirs) lost. */
  async losePod(pod: EtcdPod): Promise<void> {
    await this.stopPod(pod);
    rmSync(pod.map.volumesDir, { recursive: true, force: true });
  }

  /** The pod deleted (every container killed); its PVC stays. */
  async stopPod(pod: EtcdPod): Promise<void> {
    await Promise.all([...pod.containers.values()].map((p) => p.kill()));
    pod.containers.clear();
  }

  /** The member list once every pod's etcd is healthy and the cluster lists exactly the pods, all started. */
  async healthyMembers(timeoutMs = 60_000): Promise<MemberView[]> {
    const names = this.pods.map((p) => p.map.podName).sort();
    return waitFor(
      async () => {
        for (const pod of this.pods) {
          const etcd = pod.containers.get("etcd");
          if (!etcd?.running)
            throw new Error(`${pod.map.podName}/etcd is not running:\n${etcd?.log}\ninit:\n${pod.initLog}`);
          // /health: the probes' /readyz and /livez exist from etcd 3.5.11 on, Debian's is 3.4.
          const res = await fetch(`http://${pod.map.podIp}:${this.portOf("metrics")}/health`, {
            signal: AbortSignal.timeout(2000),
          });
          if (!res.ok || ((await res.json()) as { health?: string }).health !== "true") return undefined;
        }
        const admin = await adminClient(this.auth.etcd);
        try {
          const list = (await admin.client.cluster.memberList({})).members;
          const started = list.every((m) => m.name !== "" && m.clientURLs.length > 0);
          const listed = list.map((m) => m.name).sort();
          if (!started || JSON.stringify(listed) !== JSON.stringify(names)) return undefined;
          return list.map((m) => ({ id: m.ID, name: m.name, clientURLs: m.clientURLs, peerURLs: m.peerURLs }));
        } finally {
          admin.client.close();
        }
      },
      { timeoutMs, intervalMs: 250, message: `etcd members ${names.join(", ")} healthy` },
    );
  }

  /** Clients as the processes' accounts (passwords from the auth container's view of the mounted Secret). */
  answers(): EtcdAnswers {
    const { services, readers, passwordsDir } = this.auth.accounts;
    const passwords = Object.fromEntries(
      [...services, ...readers].map((a) => [a, readFileSync(join(passwordsDir, passwordKey(a)), "utf8")]),
    );
    return new EtcdAnswers(this.auth.etcd.endpoints, passwords, this.auth.etcd.tls);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#processes.map((p) => p.kill()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
