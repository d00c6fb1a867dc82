// The limiter against many addresses: checking a limit creates no state, a million distinct addresses
// leave the heap bounded and cannot push out the buckets of clients that are limited, an IPv6 /64 is
// one client; and X-Forwarded-For from real loopback peers (each request sent from its own 127.x
// address): believed from the trusted proxy for one hop only, ignored from any other peer.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Request, Response } from "express";
import { Registry } from "prom-client";
import { RateLimits, rateLimitSection, TokenBuckets } from "../../gateway/rate-limit.ts";
import { startTestApp, type TestApp } from "./fakes.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heapMiB = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const v4 = (i: number) => `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

test("checking a limit never creates state; only spending a token does", () => {
  const b = new TokenBuckets({ burst: 2, perMinute: 1 }, 1_000);
  for (let i = 0; i < 10_000; i++) assert.equal(b.wait(v4(i)), 0);
  assert.equal(b.size, 0);
  b.take("a");
  assert.equal(b.size, 1);
});

test("a million distinct addresses: bounded heap, and limited clients stay limited", () => {
  let now = 0;
  const limits = new RateLimits(
    rateLimitSection.parse({ loginPerAddress: { burst: 3, perMinute: 1 } }),
    new Registry(),
    () => now,
  );
  const [check] = limits.addressLimit("login");
  assert.ok(check);
  const attempt = (ip: string): boolean => {
    let limited = false;
    try {
      check({ ip, socket: {} } as Request, { locals: {} } as Response, () => {});
    } catch {
      limited = true;
    }
    return limited;
  };
  // Two clients spend their burst and are limited.
  for (const ip of ["198.51.100.1", "2001:db8:1:2::1"]) {
    for (let i = 0; i < 3; i++) assert.equal(attempt(ip), false);
    assert.equal(attempt(ip), true);
  }
  assert.equal(attempt("2001:db8:1:2:ffff:1:2:3"), true, "another address of the same /64 is the same client");
  const before = heapMiB();
  for (let i = 0; i < 1_000_000; i++) {
    now += 0.001;
    attempt(v4(i));
  }
  const grown = heapMiB() - before;
  // 100,000 buckets (rateLimit.maxTrackedKeys' default) of ~120 bytes: ~12 MiB; unbounded would be ~120.
  assert.ok(grown < 40, `heap grew ${grown.toFixed(1)} MiB for 1,000,000 addresses`);
  assert.equal(attempt("198.51.100.1"), true, "the limited IPv4 client was not pushed out");
  assert.equal(attempt("2001:db8:1:2::77"), true, "nor the limited /64");
  process.stdout.write(`# 1,000,000 distinct addresses: heap +${grown.toFixed(1)} MiB\n`);
});

test("a store full of limited clients: new keys share one overflow bucket instead of freeing them", () => {
  const b = new TokenBuckets({ burst: 1, perMinute: 1 }, 1_000, () => 0);
  for (let i = 0; i < 1_000; i++) assert.equal(b.take(`attacker-${i}`), 0);
  assert.equal(b.take("newcomer-1"), 0, "the first new key gets the overflow bucket's token");
  assert.ok(b.take("newcomer-2") > 0, "then new keys wait together");
  assert.equal(b.size, 1_000);
  for (let i = 0; i < 1_000; i++) assert.ok(b.take(`attacker-${i}`) > 0, "every limited client is still limited");
});

const apps: TestApp[] = [];
after(async () => {
  for (const a of apps) await a.close();
});

/** POST register from `localAddress` (a real loopback address) with an optional X-Forwarded-For. */
function registerFrom(a: TestApp, localAddress: string, username: string, xff?: string): Promise<number> {
  const url = new URL(`${a.url}/douyin/user/register/?username=${username}&password=secret123`);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", localAddress, headers: xff ? { "x-forwarded-for": xff } : {} },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test("X-Forwarded-For from real peers: the trusted proxy's last entry only; untrusted peers' ignored", async () => {
  const a = await startTestApp({
    rateLimit: { registerPerAddress: { burst: 1, perMinute: 1 } },
    trustProxy: "127.0.0.1",
  });
  apps.push(a);
  // From the trusted proxy (127.0.0.1): the client is the entry it wrote (the last one).
  assert.equal(await registerFrom(a, "127.0.0.1", "p1", "203.0.113.50"), 200);
  assert.equal(await registerFrom(a, "127.0.0.1", "p2", "203.0.113.50"), 429, "same client");
  assert.equal(await registerFrom(a, "127.0.0.1", "p3", "203.0.113.51"), 200, "another client");
  // A client's own X-Forwarded-For entries further left are not believed (one hop).
  assert.equal(await registerFrom(a, "127.0.0.1", "p4", "198.51.100.9, 203.0.113.50"), 429);
  // An untrusted peer (127.0.0.2) is itself the client, whatever it claims.
  assert.equal(await registerFrom(a, "127.0.0.2", "u1", "203.0.113.60"), 200);
  assert.equal(await registerFrom(a, "127.0.0.2", "u2", "203.0.113.61"), 429, "a forged header makes no new client");
  assert.equal(await registerFrom(a, "127.0.0.3", "u3", "203.0.113.50"), 200, "nor borrows another's bucket");
});
