// The whole system on IPv6 loopback only: etcd, every service and the gateway listen on ::1, the
// services advertise the bare ::1 (as the chart's downward API gives an IPv6 pod IP) and register it
// bracketed; the core douyin flow (users, relations, friends, chat) runs through it.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { Etcd3 } from "etcd3";
import { FRIEND_USER_FIELDS, USER_FIELDS } from "../harness/douyin.ts";
import { call, DzugSystem } from "../harness/system.ts";

let sys: DzugSystem;
const run = Date.now().toString(36);

before(async () => {
  sys = await DzugSystem.start({ host: "::1", users: 1, relations: 1 });
});
after(async () => {
  await sys?.destroy();
});

const get = (path: string, params: Record<string, string | number>) => call(sys.url, "GET", path, params);
const post = (path: string, params: Record<string, string | number>) => call(sys.url, "POST", path, params);

async function register(name: string): Promise<{ id: number; token: string }> {
  const { body } = await post("/douyin/user/register/", { username: name, password: "secret123" });
  assert.equal(body.status_code, 0, JSON.stringify(body));
  return { id: body.user_id, token: body.token };
}

test("every record in etcd is a bracketed [::1] address, and nothing listens on IPv4", async () => {
  const etcd = new Etcd3({ hosts: sys.etcd.endpoint });
  try {
    const records = Object.values(await etcd.getAll().prefix("/dzug/services/").strings());
    assert.equal(records.length, 3, "user, relation, message");
    for (const value of records) assert.match(JSON.parse(value).address, /^\[::1\]:\d+$/, value);
  } finally {
    etcd.close();
  }
  const gatewayPort = Number(new URL(sys.url).port);
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect({ host: "127.0.0.1", port: gatewayPort });
    s.once("connect", () => resolve(s.destroy() && false));
    s.once("error", () => resolve(true));
  });
  assert.ok(refused, "the gateway is on ::1 only");
});

test("register, login, user info, follow both ways, friend list, chat: over IPv6 end to end", async () => {
  const a = await register(`v6a-${run}`);
  const b = await register(`v6b-${run}`);
  const login = await post("/douyin/user/login/", { username: `v6a-${run}`, password: "secret123" });
  assert.equal(login.body.user_id, a.id);
  const me = await get("/douyin/user/", { token: login.body.token });
  assert.deepEqual(Object.keys(me.body.user).sort(), USER_FIELDS);

  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const r = await post("/douyin/relation/action/", { token: from.token, to_user_id: to.id, action_type: 1 });
    assert.equal(r.body.status_code, 0, JSON.stringify(r.body));
  }
  const sent = await post("/douyin/message/action/", {
    token: a.token,
    to_user_id: b.id,
    action_type: 1,
    content: "hi",
  });
  assert.equal(sent.body.status_code, 0, JSON.stringify(sent.body));

  const friends = await get("/douyin/relation/friend/list/", { token: b.token, user_id: b.id });
  assert.equal(friends.body.status_code, 0, JSON.stringify(friends.body));
  assert.equal(friends.body.user_list.length, 1);
  assert.deepEqual(Object.keys(friends.body.user_list[0]).sort(), FRIEND_USER_FIELDS);
  assert.equal(friends.body.user_list[0].message, "hi");

  const chat = await get("/douyin/message/chat/", { token: b.token, to_user_id: a.id });
  assert.deepEqual(
    chat.body.message_list.map((m: { content: string }) => m.content),
    ["hi"],
  );
  const info = await get("/douyin/user/", { token: a.token, user_id: b.id });
  assert.equal(info.body.user.is_follow, true);
  assert.equal(info.body.user.follower_count, 1);
});
