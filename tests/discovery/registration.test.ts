// Registrar against a real etcd: appear/disappear, SIGKILL expiry, etcd restarts (kept and wiped data), malformed values.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { instanceKey, Registrar, ServiceWatcher } from "../../platform/discovery/index.ts";
import { scaled, waitFor } from "../harness/wait.ts";
import { captureLogger, metricValue, newRegistry, record, spawnInstance, useEtcd } from "./helpers.ts";

const fx = useEtcd();
const cleanups = fx.cleanups;

function uniquePrefix(): string {
  return `/t-${randomBytes(3).toString("hex")}`;
}

function newWatcher(prefix: string, service: string, metrics = newRegistry(), log = captureLogger()) {
  const w = new ServiceWatcher({
    etcd: fx.client,
    prefix,
    service,
    logger: log.logger,
    metrics,
    backoff: { initialMs: 50, maxMs: 500 },
  });
  cleanups.push(() => w.close());
  return w;
}

function newRegistrar(prefix: string, service: string, id: string, ttlSeconds: number, metrics = newRegistry()) {
  const r = new Registrar({
    etcd: fx.client,
    prefix,
    record: record(service, id, "127.0.0.1:1"),
    ttlSeconds,
    logger: captureLogger().logger,
    metrics,
    backoff: { initialMs: 50, maxMs: 1_000 },
  });
  cleanups.push(() => r.stop());
  return r;
}

const ids = (w: ServiceWatcher) =>
  w
    .instances()
    .map((i) => i.id)
    .join(",");

describe("registration", () => {
  test("an instance appears after registering and disappears at once after a graceful stop", async () => {
    const prefix = uniquePrefix();
    const w = newWatcher(prefix, "echo");
    await w.start();
    assert.equal(ids(w), "");
    const metrics = newRegistry();
    const r = newRegistrar(prefix, "echo", "echo-a", 10, metrics);
    await r.start();
    assert.equal(r.registered, true);
    await waitFor(() => ids(w) === "echo-a", { timeoutMs: 5_000, message: "echo-a visible" });
    const stored = await fx.client.get(instanceKey(prefix, "echo", "echo-a")).string();
    assert.equal(JSON.parse(stored ?? "{}").address, "127.0.0.1:1");
    const t0 = Date.now();
    await r.stop();
    await r.stop(); // idempotent
    assert.equal(r.registered, false);
    await waitFor(() => ids(w) === "", { timeoutMs: 5_000, message: "echo-a gone" });
    // Well under the 10 s TTL: the lease was revoked, not left to expire.
    assert.ok(Date.now() - t0 < 5_000);
    assert.equal(await metricValue(metrics, "dzug_discovery_registrations_total", { outcome: "registered" }), 1);
  });

  test("its own key deleted, or its lease revoked by someone else: it registers again by itself", async () => {
    const prefix = uniquePrefix();
    const w = newWatcher(prefix, "echo");
    await w.start();
    const metrics = newRegistry();
    const r = newRegistrar(prefix, "echo", "echo-k", 10, metrics);
    await r.start();
    const key = instanceKey(prefix, "echo", "echo-k");
    await waitFor(() => ids(w) === "echo-k", { timeoutMs: 5_000, message: "echo-k visible" });

    // Someone deletes the key (an operator, a buggy tool): it comes back, on a live lease.
    await fx.client.delete().key(key);
    await waitFor(async () => (await fx.client.get(key).string()) !== null, {
      timeoutMs: 10_000,
      message: "key put back",
    });
    await waitFor(() => ids(w) === "echo-k", { timeoutMs: 5_000, message: "watchers see it again" });

    // Someone revokes its lease: the keepalive is lost; a new lease is granted and the key put again.
    const { kvs } = await fx.client.get(key).exec();
    const lease = kvs[0]?.lease;
    assert.ok(lease && lease !== "0", "the key is held by a lease");
    await fetch(`${fx.etcd.endpoint}/v3/lease/revoke`, { method: "POST", body: JSON.stringify({ ID: lease }) });
    // (the key is put a moment before the registrar marks itself registered: wait for both)
    await waitFor(
      async () => {
        const again = (await fx.client.get(key).exec()).kvs[0];
        return again !== undefined && again.lease !== lease && r.registered;
      },
      { timeoutMs: 15_000, message: "registered again under a new lease" },
    );
    assert.ok((await metricValue(metrics, "dzug_discovery_registrations_total", { outcome: "reregistered" })) >= 2);
  });

  test("a child process killed with SIGKILL disappears after about its TTL", async () => {
    const prefix = uniquePrefix();
    const w = newWatcher(prefix, "echo");
    await w.start();
    const inst = await spawnInstance({ endpoint: fx.etcd.endpoint, prefix, service: "echo", ttlSeconds: 2 });
    cleanups.push(() => inst.child.kill("SIGKILL"));
    await waitFor(() => ids(w) === inst.id, { timeoutMs: 5_000, message: "child visible" });
    const t0 = Date.now();
    inst.child.kill("SIGKILL");
    await inst.exited;
    await waitFor(() => ids(w) === "", { timeoutMs: 15_000, message: "killed child gone" });
    const elapsed = Date.now() - t0;
    // Lease TTL 2 s: expiry comes after roughly 1.3..2 s since the last keepalive (etcd checks every 500 ms).
    assert.ok(elapsed >= 1_000 && elapsed < scaled(8_000), `gone after ${elapsed} ms`);
  });

  test("malformed values under the prefix are ignored, counted, and do not hide valid ones", async () => {
    const prefix = uniquePrefix();
    const metrics = newRegistry();
    const log = captureLogger();
    const good = record("echo", "echo-ok", "127.0.0.1:5");
    await fx.client.put(instanceKey(prefix, "echo", "echo-ok")).value(JSON.stringify(good));
    await fx.client.put(instanceKey(prefix, "echo", "bad-json")).value("{nope");
    const w = newWatcher(prefix, "echo", metrics, log);
    await w.start();
    assert.equal(ids(w), "echo-ok");
    // arriving through the watch
    await fx.client
      .put(instanceKey(prefix, "echo", "bad-schema"))
      .value(JSON.stringify({ ...good, id: "bad-schema", weight: -1 }));
    await fx.client.put(instanceKey(prefix, "echo", "bad-id")).value(JSON.stringify({ ...good, id: "someone-else" }));
    await fx.client
      .put(instanceKey(prefix, "echo", "bad-svc"))
      .value(JSON.stringify({ ...good, id: "bad-svc", service: "other" }));
    // a valid instance overwritten with garbage is dropped
    await fx.client.put(instanceKey(prefix, "echo", "echo-ok")).value("garbage");
    await waitFor(
      async () => (await metricValue(metrics, "dzug_discovery_malformed_records_total", { service: "echo" })) === 5,
      {
        timeoutMs: 5_000,
        message: "5 malformed counted",
      },
    );
    assert.equal(ids(w), "");
    await fx.client.put(instanceKey(prefix, "echo", "echo-ok")).value(JSON.stringify(good));
    await waitFor(() => ids(w) === "echo-ok", { timeoutMs: 5_000, message: "valid again" });
    assert.ok(log.lines.filter((l) => l.msg === "ignoring malformed instance record" && l.level === 40).length >= 5);
  });

  test("etcd restarted on the same data dir: registrations come back by themselves", async () => {
    const prefix = uniquePrefix();
    const w = newWatcher(prefix, "echo");
    await w.start();
    const metrics = newRegistry();
    const r = newRegistrar(prefix, "echo", "echo-keep", 2, metrics);
    await r.start();
    await waitFor(() => ids(w) === "echo-keep", { timeoutMs: 5_000, message: "visible" });
    await fx.etcd.restart();
    const restartedAt = Date.now();
    // Through a few TTLs after the restart the key is there, held by a live lease.
    await waitFor(
      async () => {
        const kv = await fx.client.get(instanceKey(prefix, "echo", "echo-keep")).exec();
        const lease = kv.kvs[0]?.lease;
        if (!lease || lease === "0") return false;
        const ttl = await fx.client.leaseClient.leaseTimeToLive({ ID: lease });
        return Number(ttl.TTL) > 0 && r.registered && Date.now() - restartedAt > 5_000;
      },
      { timeoutMs: 30_000, message: "registration alive well after the restart" },
    );
    await waitFor(() => ids(w) === "echo-keep" && !w.stale, {
      timeoutMs: 15_000,
      message: "watcher sees it, not stale",
    });
  });

  test("etcd restarted with an empty data dir: every live instance re-registers", async () => {
    const prefix = uniquePrefix();
    const w = newWatcher(prefix, "echo");
    await w.start();
    const metrics = newRegistry();
    const r1 = newRegistrar(prefix, "echo", "echo-1", 2, metrics);
    const r2 = newRegistrar(prefix, "echo", "echo-2", 2, metrics);
    await Promise.all([r1.start(), r2.start()]);
    const child = await spawnInstance({ endpoint: fx.etcd.endpoint, prefix, service: "echo", ttlSeconds: 2 });
    cleanups.push(() => child.child.kill("SIGKILL"));
    const all = ["echo-1", "echo-2", child.id].sort().join(",");
    await waitFor(() => ids(w) === all, { timeoutMs: 5_000, message: "all three visible" });
    await fx.etcd.restart({ wipe: true });
    await waitFor(() => ids(w) === all && !w.stale, { timeoutMs: 30_000, message: "all three registered again" });
    assert.ok((await metricValue(metrics, "dzug_discovery_registrations_total", { outcome: "reregistered" })) >= 2);
    assert.ok((await metricValue(metrics, "dzug_discovery_registrations_total", { outcome: "lost" })) >= 2);
    child.child.kill("SIGKILL");
  });
});
