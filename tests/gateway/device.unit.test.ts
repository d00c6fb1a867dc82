// No lockout of the owner (OWASP device cookies, gateway/device.ts): an attacker spending a username's
// failure budget from many addresses locks out strangers, not the device that logged in before; that
// device's own failures are bounded; device and API tokens are never each other.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { DEVICE_COOKIE, DeviceTokens } from "../../gateway/device.ts";
import { call, form, SECRET, startTestApp, type TestApp, tokens } from "./fakes.ts";

const apps: TestApp[] = [];
after(async () => {
  for (const a of apps) await a.close();
});

const login = (a: TestApp, username: string, password: string, from: string, cookie?: string) => {
  const f = form({ username, password });
  const headers: Record<string, string> = { ...f.headers, "x-forwarded-for": from };
  if (cookie) headers.cookie = cookie;
  return call(`${a.url}/douyin/user/login/`, { method: "POST", body: f.body, headers });
};

function deviceCookie(setCookie: string | null): string {
  const m = new RegExp(`${DEVICE_COOKIE}=([^;]+)`).exec(setCookie ?? "");
  assert.ok(m, `a device cookie in ${setCookie}`);
  assert.match(setCookie ?? "", /HttpOnly; SameSite=Strict/);
  return `${DEVICE_COOKIE}=${m[1]}`;
}

test("an attacker on many addresses locks strangers out of a name, never its owner's device", async () => {
  const a = await startTestApp({ rateLimit: {}, trustProxy: "loopback" });
  apps.push(a);
  a.world.addUser("victim", "right-password");
  const first = await login(a, "victim", "right-password", "192.0.2.10");
  assert.equal(first.body.status_code, 0);
  const cookie = deviceCookie(first.headers.get("set-cookie"));
  const again = await login(a, "victim", "right-password", "192.0.2.10", cookie);
  assert.equal(again.headers.get("set-cookie"), null, "a device that has a token keeps it");
  // 60 addresses x 5 wrong passwords: the name's overall failure budget (50) is spent.
  for (let i = 0; i < 60; i++)
    for (let j = 0; j < 5; j++) await login(a, "ＶＩＣＴＩＭ", `guess-${j}`, `198.51.100.${i + 1}`);
  const stranger = await login(a, "victim", "right-password", "192.0.2.77");
  assert.equal(stranger.status, 429, "a client without the device is locked out for now");
  const owner = await login(a, "victim", "right-password", "192.0.2.88", cookie);
  assert.equal(owner.body.status_code, 0, "the owner's device logs in from anywhere");
  const otherName = await login(a, "someone-else", "right-password", "192.0.2.88", cookie);
  assert.notEqual(otherName.status, 429, "a device token for another name is only a budget, not a lock");
});

test("a stolen device token buys a few guesses (loginFailuresPerDevice), then nothing more", async () => {
  const a = await startTestApp({
    rateLimit: { loginFailuresPerDevice: { burst: 3, perMinute: 1 } },
    trustProxy: "loopback",
  });
  apps.push(a);
  a.world.addUser("owner", "right-password");
  const cookie = deviceCookie((await login(a, "owner", "right-password", "192.0.2.1")).headers.get("set-cookie"));
  const calls = () => a.world.calls.filter((c) => c.method === "login").length;
  for (let i = 0; i < 3; i++) {
    const r = await login(a, "owner", `guess-${i}`, `203.0.113.${i + 1}`, cookie);
    assert.equal(r.status, 200);
    assert.notEqual(r.body.status_code, 0);
  }
  const before = calls();
  const spent = await login(a, "owner", "guess-4", "203.0.113.9", cookie);
  assert.equal(spent.status, 429, "the device's budget is spent");
  assert.equal(calls(), before, "no password check once it is");
});

test("device tokens and API tokens are never each other", async () => {
  const devices = new DeviceTokens(SECRET);
  const device = await devices.issue("Alice");
  assert.deepEqual((await devices.verify(device))?.name, "alice", "named by usernameKey");
  await assert.rejects(tokens.verify(device), /token invalid/, "a device token is no API token");
  assert.equal(await devices.verify(await tokens.issue(1)), undefined, "an API token is no device token");
  assert.equal(await devices.verify(`${device.slice(0, -2)}xx`), undefined, "forged");
});
