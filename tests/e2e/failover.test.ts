// Zero-error failover through the gateway with real processes: new and stopped instances, kill -9,
// rolling restarts (both with each discovery.transport: grpc-js, http2), and etcd down for 10 s.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { transportNames } from "../../platform/discovery/transport/transport.ts";
import { Load } from "../harness/load.ts";
import { call, DzugSystem, type ServiceInstance } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

let sys: DzugSystem | undefined;
afterEach(async () => {
  await sys?.destroy();
  sys = undefined;
});

/** Short leases so that a killed instance leaves the live set quickly. */
const FAST = { DZUG_DISCOVERY_LEASE_TTL_SECONDS: "3", DZUG_SHUTDOWN_PROPAGATION_DELAY_MS: "300" };

async function instanceId(inst: ServiceInstance): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${inst.adminPort}/metrics`)).text();
  const m = /dzug_instance="([^"]+)"/.exec(text);
  if (!m?.[1]) throw new Error(`no instance id in ${inst.name}'s metrics`);
  return m[1];
}

/** Picks of each instance of `service` counted by the gateway. */
async function picks(s: DzugSystem, service: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
  const out = new Map<string, number>();
  const re = /^dzug_balancer_picks_total\{([^}]*)\} (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/gm;
  for (const m of text.matchAll(re)) {
    const labels = Object.fromEntries([...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.service === service && labels.upstream)
      out.set(labels.upstream, (out.get(labels.upstream) ?? 0) + Number(m[2]));
  }
  return out;
}

async function registerPair(s: DzugSystem, tag: string) {
  const reg = async (name: string) => {
    const { body } = await call(s.url, "POST", "/douyin/user/register/", { username: name, password: "secret123" });
    assert.equal(body.status_code, 0, JSON.stringify(body));
    return { id: body.user_id as number, token: body.token as string };
  };
  return { a: await reg(`${tag}-a`), b: await reg(`${tag}-b`) };
}

function expectOk(r: { status: number; body: Record<string, any> }, what: string): void {
  if (r.status !== 200 || r.body.status_code !== 0)
    throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
}

/** Reads: user info (user + relation) and a follow list (relation -> user). */
function readLoad(s: DzugSystem, u: { id: number; token: string }, concurrency = 4): Load {
  return new Load(concurrency, async (_w, i) => {
    const r =
      i % 2 === 0
        ? await call(s.url, "GET", "/douyin/user/", { token: u.token, user_id: u.id })
        : await call(s.url, "GET", "/douyin/relation/follow/list/", { token: u.token, user_id: u.id });
    expectOk(r, "read");
  });
}

/** Mixed: each worker toggles its own follow relation (so every write succeeds) between reads. */
async function mixedLoad(s: DzugSystem, concurrency = 4): Promise<Load> {
  const pairs = await Promise.all(
    Array.from({ length: concurrency }, (_, w) => registerPair(s, `mix${w}-${Date.now()}`)),
  );
  const following = pairs.map(() => false);
  return new Load(concurrency, async (w, i) => {
    const { a, b } = pairs[w] as Awaited<ReturnType<typeof registerPair>>;
    switch (i % 4) {
      case 0: {
        const type = following[w] ? 2 : 1;
        expectOk(
          await call(s.url, "POST", "/douyin/relation/action/", {
            token: a.token,
            to_user_id: b.id,
            action_type: type,
          }),
          "action",
        );
        following[w] = !following[w];
        return;
      }
      case 1:
        return expectOk(await call(s.url, "GET", "/douyin/user/", { token: a.token, user_id: b.id }), "user");
      case 2:
        return expectOk(
          await call(s.url, "GET", "/douyin/relation/follower/list/", { token: a.token, user_id: b.id }),
          "followers",
        );
      default:
        return expectOk(
          await call(s.url, "GET", "/douyin/relation/friend/list/", { token: b.token, user_id: b.id }),
          "friends",
        );
    }
  });
}

async function loadProgress(load: Load, more: number): Promise<void> {
  const target = load.ok + more;
  await waitFor(() => load.ok >= target, { timeoutMs: 60_000, message: `${more} more successful requests` });
}

test("a new instance starts receiving picks; a stopped one is never picked again", async () => {
  sys = await DzugSystem.start({ users: 2, relations: 1, env: FAST });
  const s = sys;
  const { a } = await registerPair(s, `pick-${Date.now()}`);
  const extra = await s.addInstance("user");
  const id = await instanceId(extra);
  await waitFor(
    async () => {
      expectOk(await call(s.url, "GET", "/douyin/user/", { token: a.token, user_id: a.id }), "read");
      return ((await picks(s, "user")).get(id) ?? 0) > 0;
    },
    { timeoutMs: 30_000, message: "the new instance is picked" },
  );
  assert.equal(await extra.stop("SIGTERM"), 0);
  // Its series leave /metrics with it (deregistered); a later pick would bring them back.
  await waitFor(async () => !(await picks(s, "user")).has(id), {
    timeoutMs: 30_000,
    message: "the stopped instance's series leave the gateway's /metrics",
  });
  const before = [...(await picks(s, "user")).values()].reduce((n, v) => n + v, 0);
  for (let i = 0; i < 100; i++)
    expectOk(await call(s.url, "GET", "/douyin/user/", { token: a.token, user_id: a.id }), "read");
  const after = await picks(s, "user");
  assert.equal(after.has(id), false, "the stopped instance was picked again");
  const others = [...after.values()].reduce((n, v) => n + v, 0);
  assert.ok(others - before >= 100, `the remaining instances got the 100 reads (${before} -> ${others} picks)`);
});

for (const transport of transportNames)
  test(`kill -9 of one user instance during read load: no failed request (${transport})`, async () => {
    sys = await DzugSystem.start({ users: 3, relations: 2, env: { ...FAST, DZUG_DISCOVERY_TRANSPORT: transport } });
    const s = sys;
    const { a, b } = await registerPair(s, `kill-${Date.now()}`);
    expectOk(
      await call(s.url, "POST", "/douyin/relation/action/", { token: a.token, to_user_id: b.id, action_type: 1 }),
      "follow",
    );
    const load = readLoad(s, a);
    await loadProgress(load, 50);
    const victim = s.live("user")[0] as ServiceInstance;
    const victimId = await instanceId(victim);
    victim.child.kill("SIGKILL");
    await victim.exited;
    // Until its lease expires (about 3 s) callers still see it; then it is gone from the gateway's set.
    await waitFor(
      async () => {
        const status = (await (await fetch(`${s.adminUrl}/_dzug/status?format=json`)).json()) as unknown;
        return !JSON.stringify(status).includes(victimId);
      },
      { timeoutMs: 30_000, message: "the killed instance leaves the gateway's set" },
    );
    await loadProgress(load, 100);
    const result = await load.stop();
    assert.equal(result.failed, 0, result.errors.join("\n"));
    assert.ok(result.ok > 150);
  });

for (const transport of transportNames)
  test(`rolling restart of every service instance during mixed load: no failed request (${transport})`, async () => {
    sys = await DzugSystem.start({ users: 2, relations: 2, env: { ...FAST, DZUG_DISCOVERY_TRANSPORT: transport } });
    const s = sys;
    const load = await mixedLoad(s);
    await loadProgress(load, 40);
    for (const old of [...s.live()]) {
      await s.addInstance(old.service);
      assert.equal(await old.stop("SIGTERM"), 0, `${old.name} exits 0 after draining`);
      await loadProgress(load, 20);
    }
    const result = await load.stop();
    assert.equal(result.failed, 0, result.errors.join("\n"));
    assert.equal(s.live("user").length, 2);
    assert.equal(s.live("relation").length, 2);
  });

test("etcd down for 10 s: the gateway keeps serving; then instances re-register and a new one is discovered", async () => {
  sys = await DzugSystem.start({ users: 2, relations: 2, env: FAST });
  const s = sys;
  const load = await mixedLoad(s);
  await loadProgress(load, 40);
  await s.etcd.stop();
  const down = Date.now();
  const okAtStop = load.ok;
  // The scenario is "etcd unavailable for 10 s": traffic keeps flowing all that time.
  while (Date.now() - down < 10_000) await delay(250);
  assert.ok(load.ok > okAtStop + 20, "requests kept succeeding while etcd was down");
  await s.etcd.restart();
  await waitFor(
    async () => {
      const res = await fetch(`${s.etcd.endpoint}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: btoa("/dzug/services/"), range_end: btoa("/dzug/services0"), count_only: true }),
      });
      const body = (await res.json()) as { count?: string };
      return Number(body.count ?? 0) === s.live().length;
    },
    { timeoutMs: 60_000, message: "every live instance registered again" },
  );
  const fresh = await s.addInstance("user");
  const id = await instanceId(fresh);
  await waitFor(async () => ((await picks(s, "user")).get(id) ?? 0) > 0, {
    timeoutMs: 30_000,
    message: "the new instance is picked",
  });
  const result = await load.stop();
  assert.equal(result.failed, 0, result.errors.join("\n"));
});
