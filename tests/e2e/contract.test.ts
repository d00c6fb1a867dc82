// The douyin HTTP contract end to end: real etcd, 2× user, 2× relation, the gateway, over HTTP.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { FRIEND_USER_FIELDS, USER_FIELDS } from "../harness/douyin.ts";
import { call, DzugSystem, TEST_JWT_SECRET } from "../harness/system.ts";

let sys: DzugSystem;
const run = Date.now().toString(36);

before(async () => {
  sys = await DzugSystem.start({ users: 2, relations: 2 });
});
after(async () => {
  await sys?.destroy();
});

const get = (path: string, params: Record<string, string | number> = {}) => call(sys.url, "GET", path, params);
const post = (path: string, params: Record<string, string | number> = {}) => call(sys.url, "POST", path, params);

async function register(name: string): Promise<{ id: number; token: string }> {
  const { status, body } = await post("/douyin/user/register/", { username: name, password: "secret123" });
  assert.equal(status, 200);
  assert.equal(body.status_code, 0, JSON.stringify(body));
  assert.equal(typeof body.status_msg, "string");
  assert.ok(Number.isSafeInteger(body.user_id) && body.user_id > 0);
  assert.ok(typeof body.token === "string" && body.token.length > 0);
  return { id: body.user_id, token: body.token };
}

async function userView(token: string, userId?: number) {
  const { status, body } = await get("/douyin/user/", userId === undefined ? { token } : { token, user_id: userId });
  assert.equal(status, 200);
  assert.equal(body.status_code, 0, JSON.stringify(body));
  return body.user;
}

function assertBusinessFailure(r: { status: number; body: Record<string, any> }): void {
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.notEqual(r.body.status_code, 0, JSON.stringify(r.body));
  assert.equal(typeof r.body.status_msg, "string");
  assert.ok(r.body.status_msg.length > 0);
}

function assertBadRequest(r: { status: number; body: Record<string, any> }, status = 400): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.notEqual(r.body.status_code, 0);
  assert.ok(typeof r.body.status_msg === "string" && r.body.status_msg.length > 0);
}

describe("users", () => {
  test("register, login, user info; with and without trailing slash", async () => {
    const alice = await register(`alice-${run}`);
    const login = await post("/douyin/user/login", { username: `alice-${run}`, password: "secret123" });
    assert.equal(login.body.status_code, 0);
    assert.equal(login.body.user_id, alice.id);
    const me = await userView(login.body.token);
    assert.deepEqual(Object.keys(me).sort(), USER_FIELDS);
    assert.equal(me.id, alice.id);
    assert.equal(me.name, `alice-${run}`);
    assert.equal(me.follow_count, 0);
    assert.equal(me.follower_count, 0);
    assert.equal(me.is_follow, false);
    const noSlash = await get("/douyin/user", { token: alice.token, user_id: alice.id });
    assert.equal(noSlash.body.user.id, alice.id);
  });

  test("a taken username fails and changes nothing", async () => {
    const first = await register(`taken-${run}`);
    const again = await post("/douyin/user/register/", { username: `taken-${run}`, password: "otherpass" });
    assertBusinessFailure(again);
    assert.equal(again.body.user_id, 0);
    assert.equal(again.body.token, "");
    // the original password still works, the new one does not
    assert.equal(
      (await post("/douyin/user/login/", { username: `taken-${run}`, password: "secret123" })).body.user_id,
      first.id,
    );
    assertBusinessFailure(await post("/douyin/user/login/", { username: `taken-${run}`, password: "otherpass" }));
  });

  test("usernames differing only in case are one account (RFC 8265 UsernameCaseMapped), shown as registered", async () => {
    const first = await register(`Case-${run}`);
    assertBusinessFailure(await post("/douyin/user/register/", { username: `case-${run}`, password: "secret123" }));
    const login = await post("/douyin/user/login/", { username: `CASE-${run}`, password: "secret123" });
    assert.equal(login.body.user_id, first.id);
    assert.equal((await userView(first.token)).name, `Case-${run}`, "the name keeps its case");
  });

  test("one name however it is spelt (RFC 8265: NFC, width): the same account", async () => {
    const nfd = `e\u0301mile-${run}`;
    const nfc = nfd.normalize("NFC");
    const first = await register(nfd);
    assertBusinessFailure(await post("/douyin/user/register/", { username: nfc, password: "secret123" }));
    for (const spelling of [nfd, nfc]) {
      const login = await post("/douyin/user/login/", { username: spelling, password: "secret123" });
      assert.equal(login.body.user_id, first.id, spelling);
    }
    const me = await userView(first.token);
    assert.equal(me.name, nfc, "stored and shown normalized");
    const wide = await register(`ｗｉｄｅ-${run}`);
    assert.equal((await userView(wide.token)).name, `wide-${run}`);
    const upper = await post("/douyin/user/login/", { username: `ＷＩＤＥ-${run}`, password: "secret123" });
    assert.equal(upper.body.user_id, wide.id, "fullwidth capitals: the same account");
  });

  test("spoofable usernames answer 400 with the reason and create nothing", async () => {
    const cases: Array<[string, RegExp]> = [
      [`alice\u200b${run}`, /invisible or formatting/],
      [`\u202eecila${run}`, /bidirectional/],
      [`alice ${run}`, /spaces/],
      [`ali\u0007${run}`, /control/],
    ];
    for (const [username, why] of cases) {
      const r = await post("/douyin/user/register/", { username, password: "secret123" });
      assertBadRequest(r);
      assert.match(r.body.status_msg, why);
      assertBusinessFailure(await post("/douyin/user/login/", { username, password: "secret123" }));
    }
    // A lone surrogate cannot travel in a URL; in a JSON body it is refused before any RPC.
    for (const username of ["\ud800x", "x\udbff"]) {
      const res = await fetch(`${sys.url}/douyin/user/register/`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username, password: "secret123" }),
      });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { status_msg: string }).status_msg, /unpaired surrogates/);
    }
  });

  test("unknown user and wrong password fail with one and the same message", async () => {
    await register(`bob-${run}`);
    const wrong = await post("/douyin/user/login/", { username: `bob-${run}`, password: "wrongpass" });
    const unknown = await post("/douyin/user/login/", { username: `nobody-${run}`, password: "wrongpass" });
    assertBusinessFailure(wrong);
    assertBusinessFailure(unknown);
    assert.equal(wrong.body.status_msg, unknown.body.status_msg);
    assert.equal(wrong.body.status_code, unknown.body.status_code);
    assert.equal(wrong.body.user_id, 0);
    assert.equal(wrong.body.token, "");
  });

  test("SQL-ish strings are plain data", async () => {
    const name = `';DROP/**/TABLE/**/users;--${run}`.slice(0, 32);
    const u = await register(name);
    assert.equal((await userView(u.token)).name, name);
  });

  test("unknown user id fails", async () => {
    const u = await register(`seeker-${run}`);
    assertBusinessFailure(await get("/douyin/user/", { token: u.token, user_id: 987654321 }));
  });
});

describe("tokens", () => {
  test("missing token is a bad request; forged and expired tokens fail", async () => {
    const u = await register(`tok-${run}`);
    assertBadRequest(await get("/douyin/user/", { user_id: u.id }));
    const [h, p] = u.token.split(".");
    assertBusinessFailure(await get("/douyin/user/", { token: `${h}.${p}.AAAAsignature`, user_id: u.id }));
    assertBusinessFailure(await get("/douyin/user/", { token: "not-a-token", user_id: u.id }));
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(String(u.id))
      .setIssuer("dzug")
      .setAudience("dzug-api")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("another-secret-another-secret-another-secret"));
    assertBusinessFailure(await get("/douyin/user/", { token: forged, user_id: u.id }));
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(String(u.id))
      .setIssuer("dzug")
      .setAudience("dzug-api")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    assertBusinessFailure(await get("/douyin/user/", { token: expired, user_id: u.id }));
  });

  test("Authorization: Bearer is accepted", async () => {
    const u = await register(`bearer-${run}`);
    const res = await fetch(`${sys.url}/douyin/user/?user_id=${u.id}`, {
      headers: { authorization: `Bearer ${u.token}` },
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as any).user.id, u.id);
  });
});

describe("relations", () => {
  test("follow, counts, is_follow, lists newest first, friends, unfollow", async () => {
    const a = await register(`ra-${run}`);
    const b = await register(`rb-${run}`);
    const c = await register(`rc-${run}`);
    const act = (who: { token: string }, to: number, type: 1 | 2) =>
      post("/douyin/relation/action/", { token: who.token, to_user_id: to, action_type: type });

    assert.equal((await act(a, b.id, 1)).body.status_code, 0);
    assert.equal((await act(a, c.id, 1)).body.status_code, 0);
    assert.equal((await act(b, a.id, 1)).body.status_code, 0);

    const seenByA = await userView(a.token, b.id);
    assert.equal(seenByA.is_follow, true);
    assert.equal(seenByA.follower_count, 1);
    assert.equal(seenByA.follow_count, 1);
    const aSelf = await userView(a.token);
    assert.equal(aSelf.follow_count, 2);
    assert.equal(aSelf.follower_count, 1);
    assert.equal((await userView(c.token, a.id)).is_follow, false);

    const following = await get("/douyin/relation/follow/list/", { token: a.token, user_id: a.id });
    assert.equal(following.body.status_code, 0);
    assert.deepEqual(
      following.body.user_list.map((u: any) => u.id),
      [c.id, b.id],
    );
    for (const u of following.body.user_list) assert.deepEqual(Object.keys(u).sort(), USER_FIELDS);

    const followers = await get("/douyin/relation/follower/list", { token: c.token, user_id: a.id });
    assert.deepEqual(
      followers.body.user_list.map((u: any) => u.id),
      [b.id],
    );
    assert.equal(followers.body.user_list[0].is_follow, false); // c does not follow b

    const friends = await get("/douyin/relation/friend/list/", { token: a.token, user_id: a.id });
    assert.equal(friends.body.status_code, 0);
    assert.equal(friends.body.user_list.length, 1);
    const f = friends.body.user_list[0];
    assert.equal(f.id, b.id);
    assert.deepEqual(Object.keys(f).sort(), FRIEND_USER_FIELDS);
    assert.equal(f.message, "");
    assert.equal(f.msgType, 0);

    assert.equal((await act(a, b.id, 2)).body.status_code, 0);
    assert.equal((await userView(a.token, b.id)).follower_count, 0);
    assert.equal(
      (await get("/douyin/relation/friend/list/", { token: a.token, user_id: a.id })).body.user_list.length,
      0,
    );
  });

  test("business failures change nothing", async () => {
    const a = await register(`fa-${run}`);
    const b = await register(`fb-${run}`);
    const act = (to: number, type: number) =>
      post("/douyin/relation/action/", { token: a.token, to_user_id: to, action_type: type });
    assert.equal((await act(b.id, 1)).body.status_code, 0);
    assertBusinessFailure(await act(b.id, 1)); // already following
    assertBusinessFailure(await act(a.id, 1)); // yourself
    assertBusinessFailure(await act(987654321, 1)); // no such user
    const c = await register(`fc-${run}`);
    assertBusinessFailure(await act(c.id, 2)); // not following
    const seen = await userView(a.token);
    assert.equal(seen.follow_count, 1);
    assert.equal((await userView(a.token, b.id)).follower_count, 1);
    assert.equal((await userView(a.token, c.id)).follower_count, 0);
  });

  test("concurrent follow/unfollow storm: counts match the lists", async () => {
    const users = await Promise.all([0, 1, 2, 3].map((i) => register(`storm${i}-${run}`)));
    const ops: Promise<unknown>[] = [];
    for (let round = 0; round < 6; round++) {
      for (const u of users) {
        for (const v of users) {
          if (u.id === v.id) continue;
          ops.push(
            post("/douyin/relation/action/", {
              token: u.token,
              to_user_id: v.id,
              action_type: round % 2 === 0 ? 1 : 2,
            }),
          );
        }
      }
    }
    const results = (await Promise.all(ops)) as Array<{ status: number }>;
    for (const r of results) assert.equal(r.status, 200);
    for (const u of users) {
      const me = await userView(u.token);
      const fl = await get("/douyin/relation/follow/list/", { token: u.token, user_id: u.id });
      const fr = await get("/douyin/relation/follower/list/", { token: u.token, user_id: u.id });
      assert.equal(me.follow_count, fl.body.user_list.length);
      assert.equal(me.follower_count, fr.body.user_list.length);
    }
  });
});

describe("bad input never changes data", () => {
  test("missing, ill-typed and out-of-range parameters answer 400", async () => {
    const u = await register(`bad-${run}`);
    const v = await register(`bad2-${run}`);
    assertBadRequest(await post("/douyin/user/register/", { password: "secret123" }));
    assertBadRequest(await post("/douyin/user/register/", { username: `x-${run}` }));
    assertBadRequest(await post("/douyin/user/register/", { username: "", password: "secret123" }));
    assertBadRequest(await post("/douyin/user/register/", { username: "x".repeat(33), password: "secret123" }));
    assertBadRequest(await post("/douyin/user/register/", { username: `short-${run}`, password: "12345" }));
    assertBadRequest(await post("/douyin/user/register/", { username: `long-${run}`, password: "p".repeat(33) }));
    assertBadRequest(await get("/douyin/user/", { token: u.token, user_id: "abc" }));
    assertBadRequest(await get("/douyin/user/", { token: u.token, user_id: "-5" }));
    assertBadRequest(await get("/douyin/user/", { token: u.token, user_id: "99999999999999999999999" }));
    assertBadRequest(await post("/douyin/relation/action/", { token: u.token, to_user_id: v.id, action_type: 3 }));
    assertBadRequest(await post("/douyin/relation/action/", { token: u.token, to_user_id: v.id }));
    assertBadRequest(await post("/douyin/relation/action/", { token: u.token, to_user_id: "1.5", action_type: 1 }));
    assertBadRequest(await get("/douyin/relation/follow/list/", { token: u.token }));
    // nothing was created or changed
    assertBusinessFailure(await post("/douyin/user/login/", { username: `short-${run}`, password: "12345" }));
    assert.equal((await userView(u.token)).follow_count, 0);
    assert.equal((await userView(u.token, v.id)).follower_count, 0);
  });

  test("unparsable and oversized bodies", async () => {
    const bad = await fetch(`${sys.url}/douyin/user/register/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"username": "x", ',
    });
    assert.equal(bad.status, 400);
    assert.notEqual(((await bad.json()) as any).status_code, 0);
    const big = await fetch(`${sys.url}/douyin/user/register/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "x", password: "y".repeat(2_000_000) }),
    });
    assert.equal(big.status, 413);
    assert.notEqual(((await big.json()) as any).status_code, 0);
  });

  test("form and JSON bodies carry parameters too", async () => {
    const form = await fetch(`${sys.url}/douyin/user/register/`, {
      method: "POST",
      body: new URLSearchParams({ username: `form-${run}`, password: "secret123" }),
    });
    assert.equal(((await form.json()) as any).status_code, 0);
    const fd = new FormData();
    fd.set("username", `multi-${run}`);
    fd.set("password", "secret123");
    const multi = await fetch(`${sys.url}/douyin/user/register/`, { method: "POST", body: fd });
    assert.equal(((await multi.json()) as any).status_code, 0);
    const json = await fetch(`${sys.url}/douyin/user/login/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: `form-${run}`, password: "secret123" }),
    });
    assert.equal(((await json.json()) as any).status_code, 0);
  });
});
