// ServiceWatcher against a real etcd: compaction past its revision, etcd down (stale, last set kept, calls keep working).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { Discovery, instanceKey, Registrar, ServiceWatcher } from "../../platform/discovery/index.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { waitFor } from "../harness/wait.ts";
import { captureLogger, metricValue, newRegistry, record, startEcho, useEtcd } from "./helpers.ts";

const fx = useEtcd();
const cleanups = fx.cleanups;

const prefixOf = () => `/t-${randomBytes(3).toString("hex")}`;
const ids = (list: readonly { id: string }[]) => list.map((i) => i.id).join(",");

describe("watcher", () => {
  test("survives a compaction past the revision it watches from and ends with the right set", async () => {
    const prefix = prefixOf();
    const put = (id: string) =>
      fx.client.put(instanceKey(prefix, "echo", id)).value(JSON.stringify(record("echo", id, "127.0.0.1:9")));
    await put("echo-old");
    await put("echo-stays");
    const log = captureLogger();
    let lists = 0;
    const w = new ServiceWatcher({
      etcd: fx.client,
      prefix,
      service: "echo",
      logger: log.logger,
      metrics: newRegistry(),
      backoff: { initialMs: 20, maxMs: 200 },
      // Between the first list and its watch, the world moves on and etcd compacts past the listed
      // revision: the watch from revision+1 is refused by etcd as compacted.
      beforeWatch: async () => {
        if (++lists !== 1) return;
        await fx.client.delete().key(instanceKey(prefix, "echo", "echo-old"));
        await put("echo-new");
        for (let i = 0; i < 5; i++) await put("echo-stays"); // more revisions
        const head = await fx.client.put(`${prefix}/unrelated`).value("x");
        await fx.client.kv.compact({ revision: head.header.revision, physical: true });
      },
    });
    cleanups.push(() => w.close());
    await w.start();
    assert.equal(ids(w.instances()), "echo-old,echo-stays"); // the first list
    await waitFor(() => ids(w.instances()) === "echo-new,echo-stays", {
      timeoutMs: 10_000,
      message: "set after compaction",
    });
    assert.ok(lists >= 2, "re-listed");
    const ended = log.lines.filter((l) => l.msg === "watch ended; re-listing").map((l) => String(l.why));
    assert.ok(
      ended.some((why) => /compact|cancel/i.test(why)),
      `why: ${ended.join(" | ")}`,
    );
    // and it keeps following changes after the re-list
    await fx.client.delete().key(instanceKey(prefix, "echo", "echo-new"));
    await waitFor(() => ids(w.instances()) === "echo-stays", { timeoutMs: 5_000, message: "delete after re-watch" });
  });

  test("etcd down: the last set is kept, stale is reported once, calls keep working; then it recovers", async () => {
    const prefix = prefixOf();
    const metrics = newRegistry();
    const log = captureLogger();
    const servers = await Promise.all([startEcho("echo-a"), startEcho("echo-b")]);
    cleanups.push(() => Promise.all(servers.map((s) => s.server.forceShutdown())));
    const regs = servers.map(
      (s, i) =>
        new Registrar({
          etcd: fx.client,
          prefix,
          record: record("echo", i === 0 ? "echo-a" : "echo-b", s.address),
          ttlSeconds: 10,
          logger: log.logger,
          metrics,
        }),
    );
    cleanups.push(() => Promise.all(regs.map((r) => r.stop())));
    await Promise.all(regs.map((r) => r.start()));
    const discovery = new Discovery({ etcd: fx.client, prefix, logger: log.logger, metrics });
    cleanups.push(() => discovery.close());
    const users = discovery.client("echo", UserServiceDefinition);
    const w = discovery.watch("echo");
    await w.start();
    await waitFor(() => ids(w.instances()) === "echo-a,echo-b", { timeoutMs: 5_000, message: "both visible" });
    let changes = 0;
    w.on("change", () => changes++);

    await fx.etcd.stop();
    await waitFor(() => w.stale, { timeoutMs: 15_000, message: "stale" });
    assert.equal(discovery.snapshot()[0]?.stale, true);
    assert.equal(await metricValue(metrics, "dzug_discovery_stale", { service: "echo" }), 1);
    assert.equal(ids(w.instances()), "echo-a,echo-b");
    assert.equal(discovery.ready("echo"), true);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add((await users.getUser({ id: i })).user?.name ?? "");
    assert.deepEqual([...seen].sort(), ["echo-a", "echo-b"]);

    await fx.etcd.restart();
    await waitFor(() => !w.stale, { timeoutMs: 30_000, message: "not stale after etcd is back" });
    assert.equal(ids(w.instances()), "echo-a,echo-b");
    assert.equal(changes, 0, "the set never changed (never emptied)");
    assert.equal(await metricValue(metrics, "dzug_discovery_stale", { service: "echo" }), 0);
    const staleWarns = log.lines.filter(
      (l) => l.component === "watcher" && l.level === 40 && String(l.msg).startsWith("etcd unreachable"),
    );
    assert.equal(staleWarns.length, 1, "one warn per transition");
    // and it still follows changes
    await regs[1]?.stop();
    await waitFor(() => ids(w.instances()) === "echo-a", {
      timeoutMs: 10_000,
      message: "echo-b gone after etcd is back",
    });
  });
});
