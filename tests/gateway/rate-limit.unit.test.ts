// Rate limits: token buckets (fake clock), and the gateway's 429s over in-process fakes — per address
// for register and login, per username for failed logins, the API-wide limit, X-Forwarded-For only
// behind a trusted proxy, Retry-After, and every answer in the OpenAPI document.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Status } from "nice-grpc";
import { TokenBuckets } from "../../gateway/rate-limit.ts";
import { call, form, rpcError, startTestApp, type TestApp } from "./fakes.ts";

test("token buckets: burst, refill per minute, seconds to wait, bounded keys", () => {
  let now = 0;
  const b = new TokenBuckets({ burst: 3, perMinute: 6 }, 2, () => now);
  assert.deepEqual([b.take("a"), b.take("a"), b.take("a")], [0, 0, 0]);
  assert.equal(b.take("a"), 10, "one token every 10 s");
  now += 9_000;
  assert.equal(b.take("a"), 1);
  now += 1_000;
  assert.equal(b.take("a"), 0);
  assert.equal(b.take("b"), 0, "keys are independent");
  b.take("c");
  assert.equal(b.size, 2, "the least recently seen key is forgotten");
  assert.equal(new TokenBuckets({ burst: 0, perMinute: 0 }, 10).enabled, false);
});

const apps: TestApp[] = [];
after(async () => {
  for (const a of apps) await a.close();
});
async function app(rateLimit: Record<string, unknown>, trustProxy?: string): Promise<TestApp> {
  let now = 0;
  const a = await startTestApp({
    rateLimit,
    ...(trustProxy ? { trustProxy } : {}),
    now: () => now,
  });
  (a as TestApp & { advance(ms: number): void }).advance = (ms) => {
    now += ms;
  };
  apps.push(a);
  return a;
}

const register = (a: TestApp, username: string, headers: Record<string, string> = {}) => {
  const f = form({ username, password: "secret123" });
  return call(`${a.url}/douyin/user/register/`, {
    method: "POST",
    body: f.body,
    headers: { ...f.headers, ...headers },
  });
};
const login = (a: TestApp, username: string, password: string, headers: Record<string, string> = {}) => {
  const f = form({ username, password });
  return call(`${a.url}/douyin/user/login/`, { method: "POST", body: f.body, headers: { ...f.headers, ...headers } });
};

test("register: 20 a minute from one address pass, the 21st is 429 with Retry-After; other addresses are not affected", async () => {
  const a = await app({}, "loopback");
  const from = { "x-forwarded-for": "203.0.113.7" };
  for (let i = 0; i < 20; i++) assert.equal((await register(a, `burst-${i}`, from)).body.status_code, 0);
  const r = await register(a, "burst-20", from);
  assert.equal(r.status, 429);
  assert.equal(r.body.status_code, 42901);
  assert.match(r.body.status_msg, /too many register attempts/);
  assert.equal(r.headers.get("retry-after"), "3");
  assert.deepEqual([r.body.user_id, r.body.token], [0, ""]);
  assert.equal((await register(a, "other-client", { "x-forwarded-for": "203.0.113.8" })).body.status_code, 0);
  (a as TestApp & { advance(ms: number): void }).advance(3_000);
  assert.equal((await register(a, "burst-20", from)).body.status_code, 0, "a token came back");
  assert.match(await a.metrics.metrics(), /dzug_http_rate_limited_total\{limit="register_address"\} 1/);
});

test("X-Forwarded-For names the client only behind a trusted proxy", async () => {
  const a = await app({ registerPerAddress: { burst: 2, perMinute: 1 } });
  for (const xff of ["203.0.113.1", "203.0.113.2"])
    assert.equal((await register(a, `spoof-${xff}`, { "x-forwarded-for": xff })).status, 200);
  const r = await register(a, "spoof-3", { "x-forwarded-for": "203.0.113.3" });
  assert.equal(r.status, 429, "a forged header does not make a new client");
});

test("failed logins per username: tight from one address, the owner elsewhere still logs in", async () => {
  const a = await app({}, "loopback");
  a.world.addUser("victim", "right-password");
  const attacker = { "x-forwarded-for": "198.51.100.66" };
  for (let i = 0; i < 5; i++) {
    const r = await login(a, "victim", `guess-${i}`, attacker);
    assert.equal(r.status, 200);
    assert.notEqual(r.body.status_code, 0);
  }
  const blocked = await login(a, "victim", "right-password", attacker);
  assert.equal(blocked.status, 429);
  assert.match(blocked.body.status_msg, /failed logins for this username/);
  assert.ok(Number(blocked.headers.get("retry-after")) >= 1);
  const calls = a.world.calls.filter((c) => c.method === "login").length;
  await login(a, "victim", "guess-x", attacker);
  assert.equal(a.world.calls.filter((c) => c.method === "login").length, calls, "no RPC while limited");
  const owner = await login(a, "victim", "right-password", { "x-forwarded-for": "192.0.2.10" });
  assert.equal(owner.body.status_code, 0, "the owner's address is not locked out");
});

test("one guess budget per account however its name is spelt (fullwidth, NFD, case)", async () => {
  const a = await app({}, "loopback");
  const from = { "x-forwarded-for": "198.51.100.67" };
  const spellings = ["émile", "e\u0301mile", "ÉMILE", "ｅ\u0301ｍｉｌｅ", "Ｅ\u0301mile"];
  for (const [i, name] of spellings.entries()) {
    const r = await login(a, name, `guess-${i}`, from);
    assert.equal(r.status, 200, name);
  }
  for (const name of [...spellings, "ÉmIlE"]) {
    const r = await login(a, name, "guess-more", from);
    assert.equal(r.status, 429, `${JSON.stringify(name)} shares the budget`);
  }
  const logins = a.world.calls.filter((c) => c.method === "login").length;
  assert.equal(logins, 5, "five guesses reached the password check, not five per spelling");
});

test("the API-wide per-address limit is off by default and applies to every route when set", async () => {
  const off = await app({}, "loopback");
  for (let i = 0; i < 50; i++) assert.equal((await call(`${off.url}/douyin/user/?token=x`)).status, 200);
  const on = await app({ apiPerAddress: { burst: 3, perMinute: 60 } });
  for (let i = 0; i < 3; i++) assert.equal((await call(`${on.url}/douyin/user/?token=x`)).status, 200);
  const r = await call(`${on.url}/douyin/relation/follow/list/?token=x&user_id=1`);
  assert.equal(r.status, 429);
  assert.equal(r.headers.get("retry-after"), "1");
  assert.equal((await call(`${on.adminUrl}/healthz`)).status, 200, "operations endpoints are not limited");
});

test("a service shedding a call (RESOURCE_EXHAUSTED) answers a fast 503 with Retry-After", async () => {
  const a = await app({});
  a.world.failNext.set("login", rpcError("/dzug.user.v1.UserService/Login", Status.RESOURCE_EXHAUSTED, "OVERLOADED"));
  const r = await login(a, "anyone", "password1");
  assert.equal(r.status, 503);
  assert.equal(r.body.status_code, 50302);
  assert.equal(r.headers.get("retry-after"), "1");
});
