// The release's life on its etcd members, through the rendered objects (hooks and helm test pods included,
// picked by their annotations and run as local processes: tests/chart/release.ts, etcd-pods.ts, local-pod.ts):
// install with 3 members -> the etcd helm test pod passes with client auth on -> upgrade to 5 members (new pods
// add themselves, the others roll) -> rollback to 3 (the pre-rollback prune hook removes members 3 and 4 before
// the StatefulSet shrinks) -> a member restarted with its volume lost rejoins -> a full stop and start with one
// volume lost keeps the data (the volumeless member waits for the cluster its peers' markers vouch for instead
// of bootstrapping a second one). etcd here is Debian's 3.4 (see etcd-contract.test.ts).
//
// Not run here: the gateway and gRPC-health helm test pods (they need the services, the gateway and PostgreSQL;
// tests/chart/contract.test.ts runs those workloads from the rendered Deployments).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { serviceDir } from "../../platform/discovery/registry/record.ts";
import type { EtcdAnswers } from "../harness/etcd-answers.ts";
import { waitFor } from "../harness/wait.ts";
import { type EtcdPod, RenderedEtcd } from "./etcd-pods.ts";
import { type K8sObject, render } from "./helpers.ts";
import { logMessages } from "./local-pod.ts";
import { applyRevision, hooksOf, runHooks } from "./release.ts";

const ETCD_TEST_POD = "dzug-test-etcd";

describe("chart release lifecycle on its etcd members (install, helm test, upgrade, rollback, volume losses)", () => {
  let etcd: RenderedEtcd;
  let answers: EtcdAnswers;
  let install: K8sObject[];
  const key = (name: string) => `${serviceDir(etcd.auth.discovery.prefix, "user")}${name}`;
  const ids = async () => new Map((await etcd.healthyMembers(90_000)).map((m) => [m.name, m.id]));

  before(async () => {
    install = await render([]);
    etcd = await RenderedEtcd.start({ helmArgs: [], maxReplicas: 5 });
    answers = etcd.answers();
  });
  after(async () => {
    await etcd?.destroy();
  });

  test("install: 3 members, auth on; every etcd helm test pod passes", async (t) => {
    t.diagnostic(`3 members healthy ${etcd.bootMs} ms after the pods started`);
    await waitFor(async () => "refused" in (await answers.answer(undefined, (c) => c.get(key("x")).string())), {
      timeoutMs: 45_000,
      intervalMs: 250,
      message: "anonymous reads refused (auth on)",
    });
    assert.ok(hooksOf(install, "test").some((h) => h.metadata.name === ETCD_TEST_POD));
    const ran = await runHooks(etcd, install, "test", [ETCD_TEST_POD]);
    assert.deepEqual(ran, [ETCD_TEST_POD]);
    await answers.allowed("user", (c) => c.put(key("installed")).value("1").exec());
  });

  test("upgrade to 5 members: the new pods join, the others roll; all 5 started", async (t) => {
    const started = Date.now();
    const hooks = await applyRevision(etcd, await render(["--set", "etcd.replicaCount=5"]), "pre-upgrade");
    assert.deepEqual(hooks, ["dzug-etcd-prune"]);
    assert.equal((await etcd.healthyMembers()).length, 5);
    t.diagnostic(`upgrade applied in ${Date.now() - started} ms`);
  });

  test("rollback to 3: the pre-rollback prune removes members 3 and 4; 3 healthy members keep the data", async (t) => {
    const started = Date.now();
    const hooks = await applyRevision(etcd, install, "pre-rollback");
    assert.deepEqual(hooks, ["dzug-etcd-prune"], "the install revision's prune Job runs on rollback");
    const members = await etcd.healthyMembers();
    assert.deepEqual(members.map((m) => m.name).sort(), ["dzug-etcd-0", "dzug-etcd-1", "dzug-etcd-2"]);
    assert.equal(await answers.allowed("gateway", (c) => c.get(key("installed")).string()), "1");
    await runHooks(etcd, install, "test", [ETCD_TEST_POD]);
    t.diagnostic(`rollback applied in ${Date.now() - started} ms`);
  });

  test("a member restarted with its volume lost rejoins as a new member", async () => {
    const pod = etcd.pods[1] as EtcdPod;
    const before = await ids();
    await etcd.losePod(pod);
    await etcd.startPod(pod);
    const after = await ids();
    assert.notEqual(after.get(pod.map.podName), before.get(pod.map.podName), logMessages(pod.initLog).join(" | "));
  });

  test("a full stop and start with one volume lost keeps the data: no second cluster", async (t) => {
    await answers.allowed("user", (c) => c.put(key("before-full-stop")).value("kept").exec());
    const before = await ids();
    const lost = etcd.pods[2] as EtcdPod;
    await Promise.all(etcd.pods.map((p) => etcd.stopPod(p)));
    await etcd.losePod(lost);
    const started = Date.now();
    await Promise.all(etcd.pods.map((p) => etcd.startPod(p)));
    const after = await ids();
    t.diagnostic(`cluster healthy ${Date.now() - started} ms after the start`);
    t.diagnostic(`${lost.map.podName} member-init: ${[...new Set(logMessages(lost.initLog))].join(" | ")}`);
    assert.equal(after.get("dzug-etcd-0"), before.get("dzug-etcd-0"), "member 0 restarted from its data");
    assert.notEqual(after.get(lost.map.podName), before.get(lost.map.podName), "the volumeless member was replaced");
    const own = [etcd.auth.etcd.endpoints[2] as string];
    const read = () =>
      answers.allowed("gateway", (c) => c.get(key("before-full-stop")).serializable(true).string(), own);
    assert.equal(await waitFor(read, { timeoutMs: 30_000, message: "the key on the replaced member" }), "kept");
    assert.equal(await answers.allowed("gateway", (c) => c.get(key("installed")).string()), "1");
  });
});
