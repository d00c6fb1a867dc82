// Chat through the gateway with real processes (etcd, user, relation, 2× message, gateway): every rule
// of the contract, polling under concurrent senders, the friend list's newest message, and kill -9 of
// a message instance under chat load.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Load } from "../harness/load.ts";
import { call, DzugSystem } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

let sys: DzugSystem;
/** Short leases so that a killed instance leaves the live set quickly. */
const FAST = { DZUG_DISCOVERY_LEASE_TTL_SECONDS: "3", DZUG_SHUTDOWN_PROPAGATION_DELAY_MS: "300" };

before(async () => {
  sys = await DzugSystem.start({ replicas: { user: 1, relation: 1, message: 2 }, env: FAST });
});
after(async () => {
  await sys?.destroy();
});

interface Account {
  id: number;
  token: string;
}

let seq = 0;
async function account(): Promise<Account> {
  const { body } = await call(sys.url, "POST", "/douyin/user/register/", {
    username: `chat-${process.pid}-${++seq}`,
    password: "secret123",
  });
  assert.equal(body.status_code, 0, JSON.stringify(body));
  return { id: body.user_id, token: body.token };
}

async function follow(from: Account, to: Account): Promise<void> {
  const { body } = await call(sys.url, "POST", "/douyin/relation/action/", {
    token: from.token,
    to_user_id: to.id,
    action_type: 1,
  });
  assert.equal(body.status_code, 0, JSON.stringify(body));
}

async function friends(): Promise<[Account, Account]> {
  const [a, b] = [await account(), await account()];
  await follow(a, b);
  await follow(b, a);
  return [a, b];
}

const send = (from: Account, to: number, content: string) =>
  call(sys.url, "POST", "/douyin/message/action/", { token: from.token, to_user_id: to, action_type: 1, content });
const chat = (me: Account, peer: number, pre?: number) =>
  call(sys.url, "GET", "/douyin/message/chat/", {
    token: me.token,
    to_user_id: peer,
    ...(pre === undefined ? {} : { pre_msg_time: pre }),
  });

test("friends chat both ways; each sees the conversation oldest first; polling returns only newer messages", async () => {
  const [a, b] = await friends();
  assert.deepEqual((await chat(a, b.id)).body.message_list, []);
  assert.equal((await send(a, b.id, "hello b")).body.status_code, 0);
  assert.equal((await send(b, a.id, "hello a\nline two\r\nline three")).body.status_code, 0);
  const { status, body } = await chat(b, a.id);
  assert.equal(status, 200);
  assert.deepEqual(
    body.message_list.map((m: any) => [m.from_user_id, m.to_user_id, m.content]),
    [
      [a.id, b.id, "hello b"],
      [b.id, a.id, "hello a\nline two\r\nline three"],
    ],
  );
  const [first, second] = body.message_list;
  assert.ok(second.create_time > first.create_time);
  assert.deepEqual((await chat(a, b.id, first.create_time)).body.message_list, [second]);
  assert.deepEqual((await chat(a, b.id, second.create_time)).body.message_list, []);
  assert.deepEqual((await chat(a, b.id, 0)).body.message_list, body.message_list);
});

test("refused and nothing stored: non-friend, one-way follow, self, unknown user (business failures, HTTP 200)", async () => {
  const [a, b] = [await account(), await account()];
  const stranger = await send(a, b.id, "hi");
  assert.equal(stranger.status, 200);
  assert.equal(stranger.body.status_code, 10010);
  await follow(a, b);
  assert.equal((await send(a, b.id, "hi")).body.status_code, 10010, "a follows b, b does not follow back");
  assert.equal((await send(a, a.id, "me")).body.status_code, 10009);
  assert.equal((await send(a, 987_654_321, "hi")).body.status_code, 10005);
  assert.deepEqual((await chat(a, b.id)).body.message_list, []);
  assert.deepEqual((await chat(a, a.id)).body.message_list, []);
});

test("content: empty, too long, control characters refused with 400; 500 code points and emoji accepted", async () => {
  const [a, b] = await friends();
  for (const bad of ["", "x".repeat(501), "a\tb", "bell\u0007", "nul\u0000", "esc\u001b[31m", "\u0085"]) {
    const r = await send(a, b.id, bad);
    assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.status_code, 40001);
  }
  assert.equal((await send(a, b.id, "x".repeat(500))).body.status_code, 0);
  assert.equal((await send(a, b.id, "😀".repeat(500))).body.status_code, 0, "500 code points, 1000 UTF-16 units");
  const list = (await chat(a, b.id)).body.message_list;
  assert.deepEqual(
    list.map((m: any) => m.content),
    ["x".repeat(500), "😀".repeat(500)],
  );
  const bad = await call(sys.url, "POST", "/douyin/message/action/", {
    token: a.token,
    to_user_id: b.id,
    action_type: 2,
    content: "x",
  });
  assert.equal(bad.status, 400);
});

test("the latest 200 with pre_msg_time 0, oldest first", async () => {
  const [a, b] = await friends();
  for (let i = 0; i < 205; i++)
    assert.equal((await send(i % 2 ? a : b, i % 2 ? b.id : a.id, `n${i}`)).body.status_code, 0);
  const list = (await chat(a, b.id)).body.message_list;
  assert.equal(list.length, 200);
  assert.deepEqual(
    list.map((m: any) => m.content),
    Array.from({ length: 200 }, (_, i) => `n${i + 5}`),
  );
});

test("the friend list carries the newest message of each conversation and who sent it", async () => {
  const [a, b] = await friends();
  const c = await account();
  await follow(a, c);
  await follow(c, a);
  await send(a, b.id, "to b");
  await send(b, a.id, "from b");
  await send(a, c.id, "to c");
  const { body } = await call(sys.url, "GET", "/douyin/relation/friend/list/", { token: a.token, user_id: a.id });
  const byId = new Map(body.user_list.map((u: any) => [u.id, [u.message, u.msgType]]));
  assert.deepEqual(byId.get(b.id), ["from b", 0]);
  assert.deepEqual(byId.get(c.id), ["to c", 1]);
});

test("polling never skips or repeats a message under concurrent senders on both instances", async () => {
  const [a, b] = await friends();
  await send(a, b.id, "start");
  const start = (await chat(b, a.id)).body.message_list[0].create_time as number;
  const SENDERS = 6;
  const PER = 15;
  const seen: any[] = [];
  let sending = true;
  const poller = (async () => {
    let pre = start;
    for (;;) {
      const finished = !sending;
      const { body } = await chat(b, a.id, pre);
      assert.equal(body.status_code, 0);
      seen.push(...body.message_list);
      if (body.message_list.length > 0) pre = body.message_list.at(-1).create_time;
      else if (finished) return;
    }
  })();
  await Promise.all(
    Array.from({ length: SENDERS }, async (_, w) => {
      for (let i = 0; i < PER; i++) {
        const from = w % 2 ? a : b;
        const r = await send(from, from === a ? b.id : a.id, `w${w}-${i}`);
        assert.equal(r.body.status_code, 0, JSON.stringify(r.body));
      }
    }),
  );
  sending = false;
  await poller;
  const all = (await chat(a, b.id)).body.message_list.slice(1);
  assert.equal(all.length, SENDERS * PER);
  assert.deepEqual(
    seen.map((m) => m.id),
    all.map((m: any) => m.id),
  );
  const times = all.map((m: any) => m.create_time);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] > times[i - 1], "create_time strictly increasing");
});

test("kill -9 of a message instance under chat load: no failed read; sends succeed or fail cleanly, none twice", async () => {
  const [a, b] = await friends();
  const sent = new Map<string, "ok" | "failed">();
  let n = 0;
  const reads = new Load(3, async () => {
    const r = await chat(a, b.id);
    if (r.status !== 200 || r.body.status_code !== 0)
      throw new Error(`read: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  });
  const sends = new Load(2, async () => {
    const content = `k${n++}`;
    const r = await send(a, b.id, content);
    if (r.status === 200 && r.body.status_code === 0) sent.set(content, "ok");
    else {
      // A clean failure: the gateway's documented 5xx with a status_code, never a hang or a 200 failure.
      assert.ok([503, 504].includes(r.status), `send: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      sent.set(content, "failed");
    }
  });
  await waitFor(() => reads.ok > 20 && sent.size > 10, { timeoutMs: 60_000, message: "load running" });
  const [victim] = sys.live("message");
  victim!.child.kill("SIGKILL");
  await victim!.exited;
  const target = reads.ok + 100;
  await waitFor(() => reads.ok >= target && sent.size > 40, { timeoutMs: 60_000, message: "load after the kill" });
  const readResult = await reads.stop();
  const sendResult = await sends.stop();
  assert.equal(readResult.failed, 0, readResult.errors.join("\n"));
  assert.equal(sendResult.failed, 0, sendResult.errors.join("\n"));
  const stored = new Map<string, number>();
  let pre = 1;
  for (;;) {
    const page = (await chat(a, b.id, pre)).body.message_list;
    if (page.length === 0) break;
    for (const m of page) stored.set(m.content, (stored.get(m.content) ?? 0) + 1);
    pre = page.at(-1).create_time;
  }
  for (const [content, count] of stored) assert.equal(count, 1, `${content} stored ${count} times`);
  for (const [content, outcome] of sent) if (outcome === "ok") assert.equal(stored.get(content), 1, `${content} lost`);
});
