// The rendered etcd StatefulSet (3 members, client auth on) run as its pods would run: for each member,
// the member-init init container, then the etcd and auth containers, each a local process with the
// command, args and env exactly as rendered (tests/chart/etcd-pods.ts, local-pod.ts: only what Kubernetes
// provides is swapped: pod name, a loopback address per pod for its IP, 0.0.0.0 and its member DNS name
// with the rendered ports, the rendered Secrets, volumes -> temp dirs, image binaries -> local ones).
// Proves, on real etcd processes: the members form one cluster at their rendered addresses, the auth
// containers close it, a write under a service's prefix is refused without credentials or with another
// service's, the service's own account writes, the gateway's only reads; a member killed with its volume
// lost rejoins through its init container. Once with the defaults, once with client and peer TLS from
// existing Secrets (cert-manager's shape; the certificates name the member DNS names and, since this
// machine dials the loopback stand-ins, their addresses).
//
// etcd here is Debian's 3.4 (tests/harness/etcd.ts), the chart's image is 3.5: every rendered flag and
// config key is accepted by 3.4, but the probes' /readyz and /livez exist only from 3.5.11 on, so health
// is read from /health on the same metrics port.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { serviceDir } from "../../platform/discovery/registry/record.ts";
import { roleOf } from "../../platform/etcd-admin/accounts.ts";
import { adminClient } from "../../platform/etcd-admin/admin-client.ts";
import type { EtcdAnswers } from "../harness/etcd-answers.ts";
import { testCertificates } from "../harness/tls.ts";
import { waitFor } from "../harness/wait.ts";
import { type EtcdPod, RenderedEtcd, type RenderedEtcdOptions } from "./etcd-pods.ts";
import { logMessages } from "./local-pod.ts";

interface Variant extends RenderedEtcdOptions {
  title: string;
  scheme: "http" | "https";
  /** Also kill a member with its volume and watch it rejoin (once is enough: TLS changes no membership code). */
  rejoin: boolean;
}

const VARIANTS: Variant[] = [
  { title: "defaults", helmArgs: [], scheme: "http", rejoin: true },
  {
    title: "client and peer TLS from existing Secrets",
    helmArgs: [
      "--set",
      "etcd.tls.client.existingSecret=etcd-client-tls",
      "--set",
      "etcd.tls.peer.existingSecret=etcd-peer-tls",
    ],
    existingSecrets: (names) => {
      // etcd matches a peer's client certificate against the connection's source address (in a cluster:
      // the pod IP its DNS name resolves to); on one host every loopback connection comes from 127.0.0.1.
      const tls = { ...testCertificates({ dnsNames: names.dnsNames, ips: [...names.ips, "127.0.0.1"] }) };
      return { "etcd-client-tls": tls, "etcd-peer-tls": tls };
    },
    scheme: "https",
    rejoin: false,
  },
];

for (const variant of VARIANTS) {
  describe(`chart etcd StatefulSet run as rendered (3 members, client auth on): ${variant.title}`, () => {
    let etcd: RenderedEtcd;
    let answers: EtcdAnswers;
    const userDir = () => serviceDir(etcd.auth.discovery.prefix, "user");

    before(async () => {
      etcd = await RenderedEtcd.start(variant);
      answers = etcd.answers();
    });
    after(async () => {
      await etcd?.destroy();
    });

    test("the members form one healthy cluster at their rendered addresses, with the rendered quota", async (t) => {
      t.diagnostic(`${etcd.pods.length} pods started in parallel: cluster healthy after ${etcd.bootMs} ms`);
      assert.equal(etcd.pods.length, 3);
      const members = await etcd.healthyMembers();
      // DZUG_CLUSTER_MEMBERS (name=peerURL) and DZUG_ETCD_ENDPOINTS as rendered, member DNS names swapped.
      const peers = new Map(
        etcd.memberInitEnv.DZUG_CLUSTER_MEMBERS?.split(",").map((e) => e.split("=", 2) as [string, string]),
      );
      for (const m of members) {
        const i = etcd.pods.findIndex((p) => p.map.podName === m.name);
        assert.deepEqual(m.clientURLs, [etcd.auth.etcd.endpoints[i]], `${m.name} advertises its rendered client URL`);
        assert.deepEqual(m.peerURLs, [peers.get(m.name)], `${m.name} advertises its rendered peer URL`);
        assert.ok(
          m.clientURLs[0]?.startsWith(`${variant.scheme}://`) && m.peerURLs[0]?.startsWith(`${variant.scheme}://`),
        );
      }
      // Where the pod's scrape annotations point: a live /metrics reporting the rendered backend quota.
      const ann = etcd.sts.spec.template.metadata.annotations;
      const pod0 = etcd.pods[0] as EtcdPod;
      const res = await fetch(`http://${pod0.map.podIp}:${ann["prometheus.io/port"]}${ann["prometheus.io/path"]}`);
      const quota = /^etcd_server_quota_backend_bytes (\S+)$/m.exec(await res.text())?.[1];
      const extra = parseYaml(etcd.memberInitEnv.DZUG_MEMBER_EXTRA_CONFIG ?? "") as Record<string, unknown>;
      assert.equal(Number(quota), Number(extra["quota-backend-bytes"]));
    });

    test("the auth containers turn client auth on with one role per account", async (t) => {
      const started = Date.now();
      const prefix = `${etcd.auth.discovery.prefix}/`;
      await waitFor(async () => "refused" in (await answers.answer(undefined, (c) => c.get(prefix).string())), {
        timeoutMs: 45_000,
        intervalMs: 250,
        message: "anonymous reads refused (auth on)",
      });
      t.diagnostic(`auth on ${etcd.bootMs + Date.now() - started} ms after the pods started`);
      const admin = await adminClient(etcd.auth.etcd);
      try {
        assert.ok(admin.authenticated, "root authenticates");
        const roles = (await admin.client.getRoles()).map((r) => r.name);
        const { services, readers } = etcd.auth.accounts;
        for (const a of [...services, ...readers]) assert.ok(roles.includes(roleOf(a)), `role ${roleOf(a)}`);
      } finally {
        admin.client.close();
      }
    });

    test("a write under the user service's prefix: refused without credentials or as another service", async () => {
      const key = `${userDir()}hijack`;
      await answers.putRefused(undefined, key);
      const others = etcd.auth.accounts.services.filter((s) => s !== "user");
      assert.ok(others.length > 0, "another service has an account");
      for (const other of others) await answers.putRefused(other, key);
    });

    test("the user service writes under its prefix; the gateway reads but cannot write", async () => {
      const key = `${userDir()}contract`;
      await answers.allowed("user", (c) => c.put(key).value("registered").exec());
      assert.deepEqual(etcd.auth.accounts.readers, ["gateway"]);
      assert.equal(await answers.allowed("gateway", (c) => c.get(key).string()), "registered");
      await answers.putRefused("gateway", key);
    });

    test("member 1 killed with its volume lost rejoins through its rendered init container", {
      skip: variant.rejoin ? false : "covered by the defaults' run",
    }, async (t) => {
      const pod = etcd.pods[1] as EtcdPod;
      const oldId = (await etcd.healthyMembers()).find((m) => m.name === pod.map.podName)?.id;
      const key = `${userDir()}before-rejoin`;
      await answers.allowed("user", (c) => c.put(key).value("kept").exec());
      const started = Date.now();
      await etcd.losePod(pod);
      await etcd.startPod(pod);
      const members = await etcd.healthyMembers(90_000);
      t.diagnostic(`member 1 back and the cluster healthy ${Date.now() - started} ms after the kill`);
      t.diagnostic(`member-init: ${logMessages(pod.initLog).join(" | ")}`);
      const newId = members.find((m) => m.name === pod.map.podName)?.id;
      assert.ok(newId && newId !== oldId, "member 1 was replaced (new member id), not restarted from data");
      // Its own copy of the data, read from it alone (serializable: no round trip to the leader).
      const own = [etcd.auth.etcd.endpoints[1] as string];
      const read = () => answers.allowed("gateway", (c) => c.get(key).serializable(true).string(), own);
      assert.equal(await waitFor(read, { timeoutMs: 30_000, message: "the key on the rejoined member" }), "kept");
      await answers.putRefused(undefined, key, own);
    });
  });
}
