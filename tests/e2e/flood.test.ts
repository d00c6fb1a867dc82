// The flood: 400 concurrent logins with wrong passwords (from a few attacker addresses, for names that
// are not the real user's) while real users log in every 100 ms (each from its own address, as people
// behind an Ingress that sets X-Forwarded-For). Real logins succeed (at most 5 % a retryable 503/504
// when the shared machine is saturated; never 429), the
// flood gets fast 429/503, no process grows without bound, and registering works right after. The
// real logins' p99 is measured (and the same logins without the flood, just before) and printed.
// Figures are printed and recorded in docs/benchmarks.md.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { quantile } from "../../bench/lib/stats.ts";
import { runWrk } from "../../bench/lib/wrk.ts";
import { DzugSystem } from "../harness/system.ts";

const FLOOD_CONCURRENCY = 400;
const FLOOD_MS = 10_000;
const REAL_EVERY_MS = 100;

let sys: DzugSystem;
before(async () => {
  // The shipped rate limits, and X-Forwarded-For trusted from loopback (the Ingress in this test).
  sys = await DzugSystem.start({
    users: 2,
    relations: 1,
    rateLimits: "defaults",
    env: { DZUG_HTTP_TRUST_PROXY: "loopback", DZUG_LOG_LEVEL: "warn" },
  });
});
after(() => sys?.destroy());

/**
 * wrk (C, epoll) drives the flood so the test process stays light: each request a wrong password for one
 * of 50 names that are not the real user's, from one of 4 attacker addresses.
 */
const FLOOD_LUA = `
local n = 0
request = function()
  n = n + 1
  local headers = { ["X-Forwarded-For"] = "203.0.113." .. (n % 4 + 1) }
  return wrk.format("POST", "/douyin/user/login/?username=victim-" .. (n % 50) .. "&password=wrong-password", headers)
end
`;

async function login(username: string, password: string, address: string) {
  const started = performance.now();
  const res = await fetch(`${sys.url}/douyin/user/login/?${new URLSearchParams({ username, password })}`, {
    method: "POST",
    headers: { "x-forwarded-for": address },
  });
  const body = (await res.json()) as { status_code: number };
  return { http: res.status, code: body.status_code, ms: performance.now() - started };
}

/** Resident memory (MiB) of the gateway and each user instance, from their /metrics. */
async function rssMiB(): Promise<number[]> {
  const urls = [`${sys.adminUrl}/metrics`, ...sys.live("user").map((u) => `http://127.0.0.1:${u.adminPort}/metrics`)];
  return Promise.all(
    urls.map(async (u) => {
      const text = await (await fetch(u)).text();
      const m = /^process_resident_memory_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
      return Math.round(Number(m?.[1] ?? 0) / 2 ** 20);
    }),
  );
}

test("400 concurrent wrong-password logins: real logins succeed, the flood gets fast 429/503", async () => {
  const reg = await fetch(`${sys.url}/douyin/user/register/?username=steady&password=secret123`, {
    method: "POST",
    headers: { "x-forwarded-for": "198.51.100.250" },
  });
  assert.equal(((await reg.json()) as { status_code: number }).status_code, 0);
  // The same real logins without the flood, just before it: what this machine gives right now.
  const quiet: number[] = [];
  for (let n = 0; n < 20; n++) {
    const r = await login("steady", "secret123", `198.51.100.${201 + (n % 40)}`);
    assert.equal(r.code, 0);
    quiet.push(r.ms);
    await delay(REAL_EVERY_MS);
  }
  const rssBefore = await rssMiB();
  const rssPeak = [...rssBefore];
  const dir = mkdtempSync(join(tmpdir(), "dzug-flood-"));
  const real: Array<{ ok: boolean; ms: number; http: number; code: number }> = [];
  try {
    const flood = runWrk({
      url: sys.url,
      threads: 1,
      connections: FLOOD_CONCURRENCY,
      seconds: FLOOD_MS / 1000,
      timeoutSeconds: 10,
      dir,
      lua: FLOOD_LUA,
    });
    await delay(300); // the flood is on
    const started = Date.now();
    // Memory, sampled beside the real logins (never delaying them).
    const sampling = (async () => {
      while (Date.now() - started < FLOOD_MS - 1_000) {
        for (const [i, v] of (await rssMiB()).entries()) rssPeak[i] = Math.max(rssPeak[i] ?? 0, v);
        await delay(1_000);
      }
    })();
    const realLogins: Promise<void>[] = [];
    for (let n = 0; Date.now() - started < FLOOD_MS - 1_000; n++) {
      // Real users, each from its own address (the Ingress sets X-Forwarded-For).
      realLogins.push(
        login("steady", "secret123", `198.51.100.${(n % 200) + 1}`).then(
          (r) => void real.push({ ok: r.http === 200 && r.code === 0, ms: r.ms, http: r.http, code: r.code }),
          (err: unknown) => void real.push({ ok: false, ms: Number.NaN, http: 0, code: String(err).length }),
        ),
      );
      await delay(REAL_EVERY_MS);
    }
    const f = await flood;
    await Promise.all([...realLogins, sampling]);

    // Right after the flood, a new account can be registered (no queue left to drain).
    const afterReg = await fetch(`${sys.url}/douyin/user/register/?username=after-flood&password=secret123`, {
      method: "POST",
      headers: { "x-forwarded-for": "198.51.100.251" },
    });
    const afterBody = (await afterReg.json()) as { status_code: number };
    const rssAfter = await rssMiB();

    const realMs = real.map((r) => r.ms).sort((a, b) => a - b);
    const summary = {
      quietP99Ms: Math.round(quantile(quiet, 0.99)),
      realLogins: real.length,
      realOk: real.filter((r) => r.ok).length,
      realP50Ms: Math.round(quantile(realMs, 0.5)),
      realP99Ms: Math.round(quantile(realMs, 0.99)),
      floodRequests: f.requests,
      floodRps: Math.round(f.rps),
      floodRefused: f.errors.status,
      floodP50Ms: Math.round(f.p50),
      floodP99Ms: Math.round(f.p99),
      floodSocketErrors: f.errors.connect + f.errors.read + f.errors.write + f.errors.timeout,
      rssMiB: { before: rssBefore, peak: rssPeak, after: rssAfter },
    };
    console.log(`flood: ${JSON.stringify(summary)}`);

    // Real logins are never rate limited or failed by the flood; on this shared machine a saturated
    // moment can still run one past the 3 s deadline or shed it (504/503, both "try again"): at most 5 %.
    const failed = real.filter((r) => !r.ok);
    assert.deepEqual(
      failed.filter((r) => r.http !== 503 && r.http !== 504),
      [],
      "no real login refused otherwise",
    );
    assert.ok(failed.length <= real.length * 0.05, `real logins failed: ${JSON.stringify(failed)}`);
    assert.ok(real.length >= 30, `real users kept logging in during the flood (${real.length})`);
    // The real logins' p99 is printed and recorded in docs/benchmarks.md, not asserted: wrk, the gateway
    // and the services share this machine's 2 cores, and with the 400 connections saturating them the
    // gateway's tail latency (the flood's own p99 too) follows the machine's load, not this code.
    // Non-2xx answers are the refusals (429/503); the 2xx are wrong-password answers (HTTP 200, status_code ≠ 0).
    assert.ok(f.errors.status > f.requests * 0.9, `the flood is refused: ${f.errors.status} of ${f.requests}`);
    assert.ok(summary.floodP50Ms < 1_000, `refusals are fast: p50 ${summary.floodP50Ms} ms`);
    assert.equal(afterBody.status_code, 0, "registering works right after the flood");
    for (const [i, peak] of rssPeak.entries())
      assert.ok(peak < (rssBefore[i] ?? 0) + 256, `process ${i} grew from ${rssBefore[i]} to ${peak} MiB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
