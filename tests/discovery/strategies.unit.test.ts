// Pure tests of the load-aware strategies, slow start and zone preference, on an injected clock and
// hand-fed load stats, and of the pool's zone preference over lazy channels (no etcd, no server).
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import pino from "pino";
import { Registry } from "prom-client";
import { type Candidate, createBalancer, type StrategyName } from "../../platform/discovery/balancing/balancer.ts";
import type { PoolEntry } from "../../platform/discovery/balancing/entry.ts";
import { LoadStats, type SlowStartOptions, slowStartFactor } from "../../platform/discovery/balancing/load.ts";
import { InstancePool } from "../../platform/discovery/balancing/pool.ts";
import { ZonePreference } from "../../platform/discovery/balancing/zone.ts";
import { discoveryMetrics } from "../../platform/discovery/metrics.ts";
import type { ServiceWatcher } from "../../platform/discovery/registry/watcher.ts";
import { record } from "./helpers.ts";

const NOW = 1_000_000;

function cand(id: string, weight = 100, since = 0): Candidate {
  return { id, weight, load: new LoadStats(since, 10_000) };
}

/** Share of `n` picks per id, each pick held in flight for `hold` further picks (a closed loop). */
function shares(name: StrategyName, cands: Candidate[], n: number, opts: Parameters<typeof createBalancer>[1] = {}) {
  const b = createBalancer(name, opts);
  const p = b.picker(cands, (c) => c);
  const count = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const c = p.pick(new Set(), NOW) as Candidate;
    count.set(c.id, (count.get(c.id) ?? 0) + 1);
  }
  return (id: string) => (count.get(id) ?? 0) / n;
}

describe("peak EWMA", () => {
  test("a slow answer raises the estimate at once; fast ones bring it down with time, not count", () => {
    const l = new LoadStats(0, 1_000);
    l.observe(2, 0);
    assert.equal(l.cost(0), 2);
    l.observe(50, 10);
    assert.equal(l.cost(10), 50, "peak taken at once");
    for (let t = 11; t < 20; t++) l.observe(2, t);
    assert.ok(l.cost(20) > 45, `9 fast answers within 10 ms barely move it: ${l.cost(20)}`);
    l.observe(2, 3_000);
    assert.ok(l.cost(3_000) < 5, `after 3 τ it is back near 2 ms: ${l.cost(3_000)}`);
    assert.ok(l.cost(20 + 1_000) < 50 * Math.exp(-1) + 0.5, "the estimate read at pick time decays too");
  });
});

describe("p2c-ewma", () => {
  test("the share moves away from a slow instance, and back once it answers fast again", () => {
    const cs = [cand("a"), cand("b"), cand("c")];
    for (const c of cs) c.load.observe(2, NOW - 1);
    (cs[2] as Candidate).load.observe(40, NOW - 1);
    const slow = shares("p2c-ewma", cs, 3_000, { forcePickMs: 1e9 });
    assert.ok(slow("c") < 0.05, `slow instance share ${slow("c")}`);
    assert.ok(slow("a") > 0.4 && slow("b") > 0.4);
    // Recovered: its estimate decays (τ = 10 s) and fast answers are averaged in.
    (cs[2] as Candidate).load.observe(2, NOW + 60_000);
    for (const c of cs) c.load.observe(2, NOW + 60_000);
    const back = createBalancer("p2c-ewma", { forcePickMs: 1e9 }).picker(cs, (c) => c);
    let picks = 0;
    for (let i = 0; i < 3_000; i++) if (back.pick(new Set(), NOW + 60_000)?.id === "c") picks++;
    assert.ok(picks / 3_000 > 0.2, `recovered share ${picks / 3_000}`);
  });

  test("in-flight counts: an instance with many calls open loses to an idle one of equal latency", () => {
    const cs = [cand("a"), cand("b")];
    for (const c of cs) c.load.observe(5, NOW);
    (cs[0] as Candidate).load.inflight = 9;
    const s = shares("p2c-ewma", cs, 1_000, { forcePickMs: 1e9 });
    assert.equal(s("b"), 1);
  });

  test("force pick: the loser not picked for forcePickMs is picked once", () => {
    const cs = [cand("a"), cand("b")];
    (cs[0] as Candidate).load.observe(100, NOW);
    (cs[1] as Candidate).load.observe(1, NOW);
    const p = createBalancer("p2c-ewma", { forcePickMs: 1_000 }).picker(cs, (c) => c);
    (cs[0] as Candidate).load.lastPick = NOW;
    assert.equal(p.pick(new Set(), NOW + 10)?.id, "b");
    assert.equal(p.pick(new Set(), NOW + 2_000)?.id, "a", "not picked for 2 s: picked anyway");
    assert.equal(p.pick(new Set(), NOW + 2_010)?.id, "b");
  });

  test("a cold instance competes on in-flight, but not while its first calls are unanswered", () => {
    const warm = cand("warm");
    warm.load.observe(5, NOW);
    warm.load.inflight = 3;
    const cold = cand("cold");
    const p = createBalancer("p2c-ewma", { forcePickMs: 1e9 }).picker([warm, cold], (c) => c);
    assert.equal(p.pick(new Set(), NOW)?.id, "cold");
    cold.load.inflight = 1;
    assert.equal(p.pick(new Set(), NOW)?.id, "warm");
  });

  test("the record's weight is honoured: in-flight is balanced in proportion to weight", () => {
    const cs = [cand("light", 100), cand("heavy", 300)];
    for (const c of cs) c.load.observe(5, NOW);
    (cs[0] as Candidate).load.inflight = 2; // score 5 × 3 / 100 = 0.15
    (cs[1] as Candidate).load.inflight = 6; // score 5 × 7 / 300 ≈ 0.117
    assert.equal(shares("p2c-ewma", cs, 200, { forcePickMs: 1e9 })("heavy"), 1);
  });
});

describe("least-request", () => {
  test("picks the instance with fewer calls in flight; weight / (active + 1)^bias", () => {
    const cs = [cand("a"), cand("b"), cand("c")];
    (cs[0] as Candidate).load.inflight = 5;
    const s = shares("least-request", cs, 3_000);
    assert.ok(s("a") < 0.01, `busy instance share ${s("a")}`);
    const w = [cand("light", 100), cand("heavy", 400)];
    (w[1] as Candidate).load.inflight = 2; // (2+1)/400 < 1/100
    assert.equal(shares("least-request", w, 200)("heavy"), 1);
    assert.equal(shares("least-request", w, 200, { leastRequestBias: 2 })("light"), 1, "bias 2: 9/400 > 1/100");
  });
});

describe("slow start", () => {
  const o: SlowStartOptions = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };

  test("the factor follows Envoy's curve", () => {
    assert.equal(slowStartFactor(o, 0, 0), 0.1, "min weight percent at first");
    assert.equal(slowStartFactor(o, 0, 5_000), 0.5);
    assert.equal(slowStartFactor(o, 0, 10_000), 1);
    assert.equal(slowStartFactor({ ...o, aggression: 2 }, 0, 2_500), 0.5, "aggression 2: sqrt");
    assert.equal(slowStartFactor({ ...o, windowMs: 0 }, NOW, NOW), 1, "off");
  });

  test("weighted-random ramps a new instance's share over the window", () => {
    const started = NOW - 1_000; // 10% into the window
    const cs = [cand("old1", 100, -1e9), cand("old2", 100, -1e9), cand("new", 100, started)];
    const at = (t: number) => {
      const p = createBalancer("weighted-random", { slowStart: o }).picker(cs, (c) => c);
      let n = 0;
      for (let i = 0; i < 6_000; i++) if (p.pick(new Set(), t)?.id === "new") n++;
      return n / 6_000;
    };
    const early = at(NOW);
    const mid = at(NOW + 4_000);
    const done = at(NOW + 9_000);
    assert.ok(early < 0.09, `at 10%: ${early} (expected ~0.05)`);
    assert.ok(mid > early && mid < done, `ramps: ${early} < ${mid} < ${done}`);
    assert.ok(Math.abs(done - 1 / 3) < 0.03, `after the window: ${done}`);
  });

  test("least-request gives a ramping instance fewer picks at equal in-flight", () => {
    const cs = [cand("old", 100, -1e9), cand("new", 100, NOW - 1_000)];
    const s = shares("least-request", cs, 500, { slowStart: o });
    assert.equal(s("old"), 1);
  });
});

describe("zone preference", () => {
  test("stays local while enough usable local instances are not overloaded", () => {
    const z = new ZonePreference({ zone: "z1", preferLocal: true, minInstances: 2, maxInFlightPerInstance: 4 });
    assert.equal(z.isLocal("z1"), true);
    assert.equal(z.isLocal("z2"), false);
    assert.equal(z.preferLocal(2), true);
    assert.equal(z.preferLocal(1), false, "too few");
    z.inflight = 8;
    assert.equal(z.preferLocal(2), false, "overloaded");
    assert.equal(
      new ZonePreference({ zone: "", preferLocal: true, minInstances: 1, maxInFlightPerInstance: 0 }).isLocal(""),
      false,
    );
  });
});
describe("zone preference in the pool", () => {
  test("picks stay in the caller's zone, and spill when local ones are too few or overloaded", () => {
    const rec = (id: string, zone: string) => ({ ...record("svc", id, `127.0.0.1:${1000 + id.charCodeAt(0)}`), zone });
    const records = [rec("a", "z1"), rec("b", "z1"), rec("c", "z2")];
    // A watcher that never changes: the pool opens lazy channels (nothing is dialled without a call).
    const watcher = Object.assign(new EventEmitter(), { instances: () => records }) as unknown as ServiceWatcher;
    const pool = new InstancePool({
      service: "svc",
      watcher,
      logger: pino({ level: "silent" }),
      metrics: discoveryMetrics(new Registry()),
      transport: "grpc-js",
      zone: { zone: "z1", preferLocal: true, minInstances: 2, maxInFlightPerInstance: 2 },
    });
    try {
      const b = createBalancer("random");
      const ids = (n: number, exclude: ReadonlySet<string> = new Set()) => {
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) seen.add(pool.pick(b, exclude, NOW)?.record.id ?? "none");
        return [...seen].sort().join(",");
      };
      assert.equal(ids(300), "a,b", "local only");
      const [ea, eb] = pool.live() as PoolEntry[];
      for (const e of [ea, eb, ea, eb] as PoolEntry[]) pool.acquire(e);
      assert.equal(ids(300), "a,b,c", "4 in flight on 2 local instances (cap 2 each): spill");
      for (const e of [ea, eb, ea, eb] as PoolEntry[]) pool.release(e, NOW, 1);
      assert.equal(ids(300), "a,b", "back to local");
      assert.equal(ids(300, new Set(["a"])), "b,c", "one local left usable, 2 required: spill");
    } finally {
      pool.close();
    }
  });
});
