// Load shedding: past its in-flight bound the gateway answers API requests 503 + Retry-After at once
// (ops endpoints still answer), and a service answers RESOURCE_EXHAUSTED at once (health checks still
// answer); both recover as soon as the work in flight ends. The event-loop signal is table-driven below.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientError, createChannel, createClient, createServer, Status } from "nice-grpc";
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health";
import pino from "pino";
import { Registry } from "prom-client";
import { LoadShedder } from "../../platform/overload.ts";
import { serverCallMiddleware } from "../../platform/server-call.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { echoImpl } from "../discovery/helpers.ts";
import { scaled } from "../harness/wait.ts";
import { call, startTestApp, type TestApp } from "./fakes.ts";

/** A gate: `wait()` resolves once `open()` was called. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, wait: () => opened };
}

/** Holds every login in the fake user service until `release.open()`; `inLogin` resolves when one arrived. */
function holdLogins(t: TestApp) {
  const release = gate();
  let entered!: () => void;
  const inLogin = new Promise<void>((r) => (entered = r));
  t.world.beforeLogin = async () => {
    entered();
    await release.wait();
  };
  return { release, inLogin };
}

test("gateway: past overload.maxInFlight an API request gets 503 + Retry-After at once; ops still answer", async () => {
  const t = await startTestApp({ overload: { maxInFlight: 1, maxEventLoopDelayMs: 0 } });
  try {
    t.world.addUser("alice");
    const { release, inLogin } = holdLogins(t);
    const held = call(`${t.url}/douyin/user/login/?username=alice&password=secret123`, { method: "POST" });
    await inLogin;
    const started = performance.now();
    const shed = await call(`${t.url}/douyin/user/login/?username=alice&password=secret123`, { method: "POST" });
    assert.ok(performance.now() - started < scaled(1_000), "answered at once");
    assert.equal(shed.status, 503);
    assert.equal(shed.body.status_code, 50302);
    assert.equal(shed.headers.get("retry-after"), "1");
    assert.equal((await call(`${t.adminUrl}/healthz`)).status, 200, "ops endpoints are never shed");
    release.open();
    assert.equal((await held).status, 200);
    t.world.beforeLogin = undefined;
    const again = await call(`${t.url}/douyin/user/login/?username=alice&password=secret123`, { method: "POST" });
    assert.equal(again.body.status_code, 0, "recovers once the work in flight ended");
    assert.match(
      await (await fetch(`${t.adminUrl}/metrics`)).text(),
      /dzug_load_shed_total\{reason="in_flight"[^}]*\} 1/,
    );
  } finally {
    await t.close();
  }
});

test("gateway: logins and registrations in flight without a device token are bounded together; a device passes", async () => {
  const t = await startTestApp({ credentialsInFlight: 1 });
  try {
    t.world.addUser("alice");
    const login = (cookie?: string) =>
      call(`${t.url}/douyin/user/login/?username=alice&password=secret123`, {
        method: "POST",
        ...(cookie ? { headers: { cookie } } : {}),
      });
    const first = await fetch(`${t.url}/douyin/user/login/?username=alice&password=secret123`, { method: "POST" });
    const cookie = /dzug-device=[^;]+/.exec(first.headers.get("set-cookie") ?? "")?.[0];
    assert.ok(cookie, "a login gives the device a cookie");

    const { release, inLogin } = holdLogins(t);
    const held = login();
    await inLogin;
    // The one slot is taken: another client's login and a registration are refused before any RPC.
    for (const refused of [
      await login(),
      await call(`${t.url}/douyin/user/register/?username=bob&password=secret123`, { method: "POST" }),
    ]) {
      assert.equal(refused.status, 503);
      assert.equal(refused.body.status_code, 50302);
      assert.ok(refused.headers.get("retry-after"));
    }
    assert.ok(![...t.world.users.values()].some((u) => u.name === "bob"), "nothing registered");
    // The device's own login is not counted: it reaches the user service (and waits there, held too).
    const device = login(cookie);
    release.open();
    assert.equal((await held).status, 200);
    assert.equal((await device).body.status_code, 0);
    t.world.beforeLogin = undefined;
    assert.equal((await login()).body.status_code, 0, "the slot is free again");
  } finally {
    await t.close();
  }
});

test("service: past its in-flight bound a call gets RESOURCE_EXHAUSTED at once; health checks still answer", async () => {
  const registry = new Registry();
  const shedder = new LoadShedder({ maxInFlight: 1, maxEventLoopDelayMs: 0 }, registry);
  const release = gate();
  let entered!: () => void;
  const inCall = new Promise<void>((r) => (entered = r));
  const echo = echoImpl("svc");
  const server = createServer().use(
    serverCallMiddleware({ registry, service: "svc", logger: pino({ level: "silent" }), shedder }),
  );
  server.add(UserServiceDefinition, {
    ...echo,
    async getUser(req, ctx) {
      entered();
      await release.wait();
      return echo.getUser(req, ctx);
    },
  });
  const health = HealthState();
  server.add(HealthDefinition, HealthServiceImpl(health));
  const port = await server.listen("127.0.0.1:0");
  const channel = createChannel(`127.0.0.1:${port}`);
  try {
    const users = createClient(UserServiceDefinition, channel);
    const held = users.getUser({ id: 1 });
    await inCall;
    await assert.rejects(
      users.getUser({ id: 2 }),
      (err) => err instanceof ClientError && err.code === Status.RESOURCE_EXHAUSTED,
    );
    const r = await createClient(HealthDefinition, channel).check({ service: "" });
    assert.equal(r.status, 1, "health answers SERVING while calls are shed");
    release.open();
    assert.equal((await held).user?.name, "svc");
    assert.equal((await users.getUser({ id: 3 })).user?.name, "svc");
  } finally {
    channel.close();
    server.forceShutdown();
    shedder.close();
  }
});

test("event-loop signal: a blocked loop sheds new work while some is in flight, and only then", async () => {
  const cases = [
    { name: "no work in flight: never shed (nothing to protect)", holdWork: false, shed: false },
    { name: "work in flight: shed", holdWork: true, shed: true },
  ];
  for (const c of cases) {
    const shedder = new LoadShedder({ maxInFlight: 0, maxEventLoopDelayMs: 50 }, new Registry());
    try {
      if (c.holdWork) assert.equal(shedder.enter(), undefined);
      await new Promise((r) => setTimeout(r, 100)); // the delay monitor samples from the next loop turn on
      const blockUntil = performance.now() + 300;
      while (performance.now() < blockUntil) {} // block the loop: its p99 delay in this window is ~300 ms
      // Watch a full window (500 ms) after the block for the signal.
      let shed = false;
      const until = performance.now() + scaled(1_200);
      while (!shed && performance.now() < until) {
        const reason = shedder.enter();
        if (reason === "event_loop") shed = true;
        else if (reason === undefined) shedder.leave();
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(shed, c.shed, c.name);
    } finally {
      shedder.close();
    }
  }
});
