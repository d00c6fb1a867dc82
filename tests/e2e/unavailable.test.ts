// What a client sees when a needed service cannot answer: 503 when no instance is live, 504 when the
// deadline passes (a frozen instance), each with status_code and status_msg; readiness degrades per route.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, DzugSystem, type ServiceInstance } from "../harness/system.ts";
import { scaled, waitFor } from "../harness/wait.ts";

let sys: DzugSystem;
let user: { user_id: number; token: string };

before(async () => {
  sys = await DzugSystem.start({
    users: 1,
    relations: 1,
    env: { DZUG_BALANCER_DEADLINE_MS: "1000", DZUG_DISCOVERY_LEASE_TTL_SECONDS: "3" },
  });
  const { body } = await call(sys.url, "POST", "/douyin/user/register/", {
    username: `u-${Date.now()}`,
    password: "secret123",
  });
  assert.equal(body.status_code, 0);
  user = body as typeof user;
});
after(async () => {
  for (const i of sys?.instances ?? []) if (i.running) i.child.kill("SIGCONT");
  await sys?.destroy();
});

test("a frozen instance: the call ends at its deadline with 504", async () => {
  const inst = sys.live("user")[0] as ServiceInstance;
  inst.child.kill("SIGSTOP");
  try {
    const started = Date.now();
    const r = await call(sys.url, "GET", "/douyin/user/", { token: user.token, user_id: user.user_id });
    assert.equal(r.status, 504, JSON.stringify(r.body));
    assert.notEqual(r.body.status_code, 0);
    assert.ok(typeof r.body.status_msg === "string" && r.body.status_msg.length > 0);
    assert.ok(Date.now() - started < scaled(2_500), "bounded by the 1 s deadline");
  } finally {
    inst.child.kill("SIGCONT");
  }
  const ok = await call(sys.url, "GET", "/douyin/user/", { token: user.token, user_id: user.user_id });
  assert.equal(ok.body.status_code, 0);
});

test("no live instance of a service: its routes 503 at once, the others serve, /readyz stays ready and names it", async () => {
  const rel = sys.live("relation")[0] as ServiceInstance;
  assert.equal(await rel.stop("SIGTERM"), 0);
  const readyz = async () => {
    const res = await fetch(`${sys.adminUrl}/readyz`);
    return { status: res.status, body: (await res.json()) as { degraded?: string[] } };
  };
  await waitFor(async () => (await readyz()).body.degraded?.includes("relation") === true, {
    timeoutMs: 15_000,
    message: "gateway names relation as degraded",
  });
  assert.equal((await readyz()).status, 200, "the gateway stays ready: user routes still serve");
  // 503 50301 at once: waiting out the 1 s deadline would answer 504.
  const r = await call(sys.url, "GET", "/douyin/relation/follow/list/", { token: user.token, user_id: user.user_id });
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal(r.body.status_code, 50301);
  assert.ok(typeof r.body.status_msg === "string" && r.body.status_msg.length > 0);
  // Requests that need only the user service still work. A login (bcrypt) can run past this system's
  // 1 s deadline on a saturated machine: 504 is then the right answer, and the next attempt is awaited.
  await waitFor(
    async () => {
      const login = await call(sys.url, "POST", "/douyin/user/login/", {
        username: "nobody-here",
        password: "secret123",
      });
      assert.ok(login.status === 200 || login.status === 504, `login answered ${login.status}`);
      return login.status === 200;
    },
    { message: "a login (user service only) answered 200" },
  );
  // A new instance brings it back.
  await sys.addInstance("relation");
  await waitFor(async () => (await readyz()).body.degraded?.length === 0, {
    timeoutMs: 15_000,
    message: "gateway no longer degraded",
  });
  const again = await call(sys.url, "GET", "/douyin/relation/follow/list/", {
    token: user.token,
    user_id: user.user_id,
  });
  assert.equal(again.body.status_code, 0);
});

test("every message instance stopped: message routes 503 at once, user and relation routes serve, /readyz stays ready", async () => {
  const other = await call(sys.url, "POST", "/douyin/user/register/", {
    username: `peer-${Date.now()}`,
    password: "secret123",
  });
  assert.equal(other.body.status_code, 0);
  for (const m of sys.live("message")) assert.equal(await m.stop("SIGTERM"), 0);
  await waitFor(
    async () => {
      const res = await fetch(`${sys.adminUrl}/readyz`);
      const body = (await res.json()) as { degraded?: string[] };
      assert.equal(res.status, 200, `the gateway stays ready: ${JSON.stringify(body)}`);
      return body.degraded?.includes("message") === true;
    },
    { timeoutMs: 15_000, message: "gateway names message as degraded" },
  );
  // 503 50301 at once: waiting out the 1 s deadline would answer 504.
  for (const [method, path, params] of [
    ["POST", "/douyin/message/action/", { to_user_id: other.body.user_id, action_type: 1, content: "hi" }],
    ["GET", "/douyin/message/chat/", { to_user_id: other.body.user_id }],
  ] as const) {
    const r = await call(sys.url, method, path, { token: user.token, ...params });
    assert.equal(r.status, 503, `${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.status_code, 50301);
  }
  const follow = await call(sys.url, "POST", "/douyin/relation/action/", {
    token: user.token,
    to_user_id: other.body.user_id,
    action_type: 1,
  });
  assert.equal(follow.body.status_code, 0, JSON.stringify(follow.body));
  const list = await call(sys.url, "GET", "/douyin/relation/follow/list/", {
    token: user.token,
    user_id: user.user_id,
  });
  assert.equal(list.body.user_list.length, 1);
  const info = await call(sys.url, "GET", "/douyin/user/", { token: user.token, user_id: other.body.user_id });
  assert.equal(info.body.user.follower_count, 1);
});
