// Pure tests: strategies and the record codec (no etcd needed).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  createBalancer,
  decodeRecord,
  encodeRecord,
  instanceKey,
  newInstanceId,
  strategyNames,
} from "../../platform/discovery/index.ts";
import { record } from "./helpers.ts";

const three = [record("svc", "a", "h:1"), record("svc", "b", "h:2"), record("svc", "c", "h:3")];

// Upper tail of chi-square with k degrees of freedom, for k even (closed form).
function chiSquareSurvivalEvenDf(x: number, k: number): number {
  let term = 1;
  let sum = 1;
  for (let i = 1; i < k / 2; i++) {
    term *= x / 2 / i;
    sum += term;
  }
  return Math.exp(-x / 2) * sum;
}

function counts(pickIds: string[]): Map<string, number> {
  const c = new Map<string, number>();
  for (const id of pickIds) c.set(id, (c.get(id) ?? 0) + 1);
  return c;
}

describe("balancer", () => {
  // A fair balancer fails a p > 0.001 test once in a thousand runs: a second, independent experiment
  // is drawn before failing, so a fair one fails one run in a million and a biased one still fails both.
  test("random: 30,000 picks over 3 instances pass a chi-square test (p > 0.001)", () => {
    const b = createBalancer("random");
    const n = 30_000;
    const experiment = () => {
      const c = counts(Array.from({ length: n }, () => b.pick(three, new Set())?.id ?? "none"));
      const expected = n / 3;
      let chi = 0;
      for (const r of three) chi += ((c.get(r.id) ?? 0) - expected) ** 2 / expected;
      assert.equal(c.get("none"), undefined);
      return { p: chiSquareSurvivalEvenDf(chi, 2), detail: `chi2=${chi.toFixed(2)} counts=${JSON.stringify([...c])}` };
    };
    const first = experiment();
    const result = first.p > 0.001 ? first : experiment();
    assert.ok(result.p > 0.001, `p=${result.p} ${result.detail} (first experiment: p=${first.p})`);
  });

  test("weighted-random follows weights within tolerance", () => {
    const b = createBalancer("weighted-random");
    const w = [record("svc", "a", "h:1", 100), record("svc", "b", "h:2", 300), record("svc", "c", "h:3", 600)];
    const n = 30_000;
    const experiment = () => {
      const c = counts(Array.from({ length: n }, () => b.pick(w, new Set())?.id ?? "none"));
      for (const r of w) {
        const share = (c.get(r.id) ?? 0) / n;
        assert.ok(Math.abs(share - r.weight / 1000) < 0.015, `${r.id}: share ${share} vs ${r.weight / 1000}`);
      }
      let chi = 0;
      for (const r of w) {
        const e = (n * r.weight) / 1000;
        chi += ((c.get(r.id) ?? 0) - e) ** 2 / e;
      }
      return { p: chiSquareSurvivalEvenDf(chi, 2), chi };
    };
    const first = experiment();
    const result = first.p > 0.001 ? first : experiment(); // see the random test
    assert.ok(result.p > 0.001, `chi2=${result.chi} p=${result.p} (first p=${first.p})`);
  });

  test("round-robin is exact", () => {
    const b = createBalancer("round-robin");
    const picks = Array.from({ length: 9_000 }, () => b.pick(three, new Set())?.id);
    for (let i = 0; i < picks.length; i++) assert.equal(picks[i], three[i % 3]?.id);
  });

  test("every strategy honours exclude and returns undefined when all are excluded", () => {
    for (const name of strategyNames) {
      const b = createBalancer(name);
      for (let i = 0; i < 200; i++) {
        const got = b.pick(three, new Set(["a", "c"]));
        assert.equal(got?.id, "b", name);
      }
      assert.equal(b.pick(three, new Set(["a", "b", "c"])), undefined, name);
      assert.equal(b.pick([], new Set()), undefined, name);
    }
  });

  test("deterministic rng drives random and weighted-random", () => {
    assert.equal(createBalancer("random", () => 0.999).pick(three, new Set())?.id, "c");
    assert.equal(createBalancer("weighted-random", () => 0).pick(three, new Set())?.id, "a");
  });
});

describe("record", () => {
  test("key and id formats", () => {
    assert.equal(instanceKey("/dzug/services", "user", "user-h-1-abcd"), "/dzug/services/user/user-h-1-abcd");
    assert.equal(instanceKey("/dzug/services/", "user", "x"), "/dzug/services/user/x");
    assert.match(newInstanceId("user"), /^user-.+-\d+-[0-9a-f]{4}$/);
  });

  test("decode accepts a valid record and rejects malformed ones", () => {
    const r = record("user", "user-1", "10.0.0.5:50051");
    const key = instanceKey("/p", "user", "user-1");
    assert.deepEqual(decodeRecord("user", key, encodeRecord(r)), { ok: true, record: r });
    assert.equal(decodeRecord("user", key, "{not json").ok, false);
    assert.equal(decodeRecord("user", key, JSON.stringify({ ...r, weight: 0 })).ok, false);
    assert.equal(decodeRecord("user", key, JSON.stringify({ ...r, weight: 1.5 })).ok, false);
    assert.equal(decodeRecord("user", key, JSON.stringify({ ...r, address: "nohost" })).ok, false);
    assert.equal(decodeRecord("user", key, JSON.stringify({ ...r, id: "other" })).ok, false);
    assert.equal(decodeRecord("user", key, JSON.stringify({ ...r, service: "relation" })).ok, false);
    assert.equal(decodeRecord("user", instanceKey("/p", "relation", "user-1"), encodeRecord(r)).ok, false);
  });
});
