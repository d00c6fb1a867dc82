// The OpenAPI document: the committed docs/api/openapi.json is what the gateway serves, and every
// route's answers — success, business failure, and each error status — match it (validated by
// tests/harness/openapi.ts inside `call`, here and in every other gateway and end-to-end test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Status } from "nice-grpc";
import { ROUTES } from "../../gateway/routes.ts";
import { openApi, validatedAnswers } from "../harness/openapi.ts";
import { call, json, rpcError, startTestApp, type TestApp, tokens } from "./fakes.ts";

let t: TestApp;
let token: string;
let other: number;
let friend: number;

before(async () => {
  t = await startTestApp({ bodyLimitBytes: 1024 });
  const me = t.world.addUser("alice");
  other = t.world.addUser("bob");
  friend = t.world.addUser("carol");
  token = await tokens.issue(me);
  // alice and carol are friends: they may chat
  t.world.follows.push({ follower: me, followee: friend }, { follower: friend, followee: me });
});
after(() => t.close());

/** Parameters that make each route succeed (and, changed, fail as the business says). */
function goodParams(path: string): Record<string, string> {
  switch (path) {
    case "/douyin/user/register/":
      return { username: `new-${Date.now()}-${Math.random()}`.slice(0, 30), password: "secret123" };
    case "/douyin/user/login/":
      return { username: "alice", password: "secret123" };
    case "/douyin/relation/action/":
      return { token, to_user_id: String(other), action_type: "1" };
    case "/douyin/message/action/":
      return { token, to_user_id: String(friend), action_type: "1", content: "hello" };
    case "/douyin/message/chat/":
      return { token, to_user_id: String(friend), pre_msg_time: "0" };
    default:
      return { token, user_id: String(other) };
  }
}

function businessFailure(path: string): Record<string, string> {
  switch (path) {
    case "/douyin/user/register/":
      return { username: "alice", password: "secret123" }; // taken
    case "/douyin/user/login/":
      return { username: "alice", password: "wrong-password" };
    default:
      return { ...goodParams(path), token: "not-a-token" };
  }
}

/** The first RPC each route makes, to fail it on purpose. */
const FIRST_RPC: Record<string, string> = {
  "/douyin/user/register/": "register",
  "/douyin/user/login/": "login",
  "/douyin/user/": "getUser",
  "/douyin/relation/action/": "follow",
  "/douyin/relation/follow/list/": "streamFollowing",
  "/douyin/relation/follower/list/": "streamFollowers",
  "/douyin/relation/friend/list/": "streamFriends",
  "/douyin/message/action/": "sendMessage",
  "/douyin/message/chat/": "listMessages",
};

const send = (method: string, path: string, params: Record<string, string>) =>
  method === "get"
    ? call(`${t.url}${path}?${new URLSearchParams(params)}`)
    : call(`${t.url}${path}`, { method: "POST", ...json(params) });

test("GET /openapi.json serves docs/api/openapi.json (npm run openapi keeps it current)", async () => {
  const r = await call(`${t.url}/openapi.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(r.body, openApi);
  assert.equal(r.body.openapi, "3.1.0");
  assert.deepEqual(Object.keys(r.body.paths).sort(), ROUTES.map((x) => x.path).sort());
});

test("every route: success, business failure and each error status match the document", async () => {
  for (const route of ROUTES) {
    const { method, path } = route;
    const ok = await send(method, path, goodParams(path));
    assert.equal(ok.body.status_code, 0, `${path}: ${ok.text}`);
    const failed = await send(method, path, businessFailure(path));
    assert.equal(failed.status, 200, `${path}: ${failed.text}`);
    assert.notEqual(failed.body.status_code, 0, `${path}: ${failed.text}`);
    const bad = await send(method, path, {
      ...goodParams(path),
      [Object.keys(route.params.shape)[0]!]: "x".repeat(100),
    });
    assert.equal(bad.status, 400, `${path}: ${bad.text}`);
    const wrongMethod = await call(`${t.url}${path}`, { method: method === "get" ? "POST" : "GET" });
    assert.equal(wrongMethod.status, 405);
    if (method === "post") {
      const big = await call(`${t.url}${path}`, { method: "POST", ...json({ pad: "x".repeat(2048) }) });
      assert.equal(big.status, 413);
    }
    const rpc = FIRST_RPC[path]!;
    const failures: Array<[number, Error]> = [
      [503, rpcError(`/dzug/${rpc}`, Status.UNAVAILABLE, undefined, "no instance")],
      [504, rpcError(`/dzug/${rpc}`, Status.DEADLINE_EXCEEDED, undefined, "deadline")],
      [500, new TypeError("boom")],
    ];
    for (const [status, err] of failures) {
      t.world.failNext.set(rpc, err);
      try {
        const r = await send(method, path, goodParams(path));
        assert.equal(r.status, status, `${path}: ${r.text}`);
      } finally {
        t.world.failNext.clear();
      }
    }
  }
  // Every documented status but 429 (rate limits) was seen for every route, and validated.
  for (const route of ROUTES) {
    for (const status of Object.keys(openApi.paths[route.path]![route.method]!.responses)) {
      if (status === "429") continue;
      assert.ok(validatedAnswers.has(`${route.method} ${route.path} ${status}`), `${route.path} ${status} not seen`);
    }
  }
});
