// Instance records are checked strictly (platform/discovery/registry/address.ts, record.ts), and a record that
// still cannot be dialled is skipped by the pool, never thrown out of the watcher's event.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import {
  decodeRecord,
  discoveryMetrics,
  encodeRecord,
  InstancePool,
  instanceKey,
  type ServiceWatcher,
} from "../../platform/discovery/index.ts";
import { addressProblem, joinHostPort, parseAddress } from "../../platform/discovery/registry/address.ts";
import { MAX_RECORD_BYTES } from "../../platform/discovery/registry/record.ts";
import { captureLogger, metricValue, newRegistry, record } from "./helpers.ts";

describe("instance addresses", () => {
  for (const ok of [
    "127.0.0.1:50051",
    "10.0.0.5:1",
    "[::1]:50051",
    "[fd00:10:244::5]:65535",
    "user.dzug.svc.cluster.local:50051",
    "localhost:9",
    "user-0.user:50051",
  ]) {
    test(`accepts ${ok}`, () => assert.equal(addressProblem(ok), undefined));
  }

  const refused: Array<[string, RegExp]> = [
    ["::1:50051", /host:port|brackets/],
    ["127.0.0.1:99999", /port 99999/],
    ["127.0.0.1:0", /port 0/],
    ["a b:50051", /neither an IP address nor a DNS name/],
    ["169.254.169.254:80", /link-local/],
    ["[fe80::1]:80", /link-local/],
    ["[fe80::1%eth0]:80", /IPv6/],
    ["[::ffff:169.254.169.254]:80", /link-local/],
    ["[fd00:ec2::254]:80", /metadata/],
    ["metadata.google.internal:80", /metadata/],
    ["0.0.0.0:50051", /unspecified/],
    ["[::]:50051", /unspecified/],
    ["user@10.0.0.5:50051", /neither/],
    ["10.0.0.5/x:50051", /neither/],
    ["http://10.0.0.5:50051", /host:port/],
    ["999.1.1.1:80", /not a valid IPv4/],
    ["[10.0.0.5]:80", /not an IPv6/],
    ["10.0.0.5", /host:port/],
    [":50051", /neither/],
    ["-bad.host:80", /neither/],
    [`${"a".repeat(64)}.x:80`, /neither/],
  ];
  for (const [address, why] of refused) {
    test(`refuses ${JSON.stringify(address)}`, () => assert.match(addressProblem(address) ?? "accepted", why));
  }

  test("joinHostPort brackets IPv6 literals (a pod IP from the downward API comes bare)", () => {
    assert.equal(joinHostPort("fd00::5", 50051), "[fd00::5]:50051");
    assert.equal(joinHostPort("[fd00::5]", 50051), "[fd00::5]:50051");
    assert.equal(joinHostPort("10.0.0.5", 50051), "10.0.0.5:50051");
    assert.equal(joinHostPort("user.dzug", 1), "user.dzug:1");
    const parsed = parseAddress(joinHostPort("::1", 7));
    assert.deepEqual(parsed, { ok: true, value: { host: "::1", port: 7 } });
  });
});

describe("record decoding", () => {
  const key = instanceKey("/p", "user", "user-1");
  const good = record("user", "user-1", "[::1]:50051");
  const decode = (value: string, k = key) => decodeRecord("user", k, value);

  test("a valid record (IPv6 bracketed) decodes; encodeRecord refuses a bad address", () => {
    assert.deepEqual(decode(JSON.stringify(good)), { ok: true, record: good });
    assert.throws(() => encodeRecord({ ...good, address: "::1:50051" }), /brackets|host:port/);
  });

  test("hostile values are refused with a reason", () => {
    const cases: Array<[string, RegExp, string?]> = [
      ["{nope", /not JSON/],
      [JSON.stringify({ ...good, address: "169.254.169.254:80" }), /link-local/],
      [JSON.stringify({ ...good, service: "relation" }), /service relation does not match/],
      [JSON.stringify({ ...good, id: "someone-else" }), /does not match key/],
      [JSON.stringify({ ...good, zone: "x".repeat(MAX_RECORD_BYTES) }), /over 4096 bytes/],
      [JSON.stringify(good), /does not match key/, instanceKey("/p", "user", "other")],
    ];
    for (const [value, why, k] of cases) {
      const r = decode(value, k);
      assert.equal(r.ok, false, value.slice(0, 80));
      if (!r.ok) assert.match(r.reason, why);
    }
  });
});

describe("pool", () => {
  test("a record that cannot be dialled is logged once, counted and skipped; the others are served", async () => {
    const watcher = new EventEmitter() as unknown as ServiceWatcher;
    (watcher as unknown as { instances: () => [] }).instances = () => [];
    const registry = newRegistry();
    const log = captureLogger();
    const pool = new InstancePool({
      service: "user",
      watcher,
      logger: log.logger,
      metrics: discoveryMetrics(registry),
      transport: "http2",
    });
    try {
      // Not reachable through decodeRecord any more; the pool's guard is the last line for what
      // node:http2 still refuses synchronously (ERR_INVALID_URL).
      const bad = record("user", "user-bad", "::1:50051");
      const good = record("user", "user-good", "127.0.0.1:9");
      assert.doesNotThrow(() => watcher.emit("change", [bad, good]));
      assert.deepEqual(
        pool.live().map((e) => e.record.id),
        ["user-good"],
      );
      watcher.emit("change", [bad, good, record("user", "user-2", "127.0.0.1:10")]);
      assert.equal(pool.live().length, 2);
      assert.equal(log.lines.filter((l) => l.msg === "cannot dial instance record; skipped").length, 1);
      assert.deepEqual(pool.sizes(), { entries: 2, series: 2 });
    } finally {
      pool.close();
    }
    assert.equal(await metricValue(registry, "dzug_discovery_undialable_records_total", { service: "user" }), 1);
  });
});
