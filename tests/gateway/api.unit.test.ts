// The douyin API of the gateway over in-process fakes of the user and relation services.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { Status } from "nice-grpc";
import { TokenService } from "../../platform/auth.ts";
import { waitFor } from "../harness/wait.ts";
import {
  call,
  FRIEND_USER_FIELDS,
  form,
  json,
  multipart,
  rpcError,
  SECRET,
  startTestApp,
  type TestApp,
  tokens,
  USER_FIELDS,
} from "./fakes.ts";

let t: TestApp;
let alice: { id: number; token: string };
let bob: { id: number; token: string };
let carol: { id: number; token: string };

before(async () => {
  t = await startTestApp();
  for (const name of ["alice", "bob", "carol"]) {
    const id = t.world.addUser(name);
    const who = { id, token: await tokens.issue(id) };
    if (name === "alice") alice = who;
    else if (name === "bob") bob = who;
    else carol = who;
  }
});
after(() => t.close());

const post = (path: string, init: RequestInit = {}) => call(t.url + path, { method: "POST", ...init });
const get = (path: string, init: RequestInit = {}) => call(t.url + path, init);

/** node:http, because fetch refuses a body on GET. */
function rawRequest(
  method: string,
  path: string,
  init: { headers: Record<string, string>; body: string },
): Promise<{ status: number; body: any; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${t.url}${path}`,
      { method, headers: { ...init.headers, "content-length": String(Buffer.byteLength(init.body)) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), text }));
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

function assertEnvelope(body: { status_code: unknown; status_msg: unknown }) {
  assert.equal(typeof body.status_code, "number");
  assert.equal(typeof body.status_msg, "string");
  assert.ok(body.status_msg !== "");
}

describe("every route, with and without trailing slash", () => {
  const routes: Array<[string, string, () => string]> = [
    ["POST", "/douyin/user/register", () => `username=u${Math.random().toString(36).slice(2, 10)}&password=secret123`],
    ["POST", "/douyin/user/login", () => "username=alice&password=secret123"],
    ["GET", "/douyin/user", () => `token=${alice.token}`],
    [
      "POST",
      "/douyin/relation/action",
      () => `token=${carol.token}&to_user_id=${alice.id}&action_type=${Math.random() < 2 ? 1 : 2}`,
    ],
    ["GET", "/douyin/relation/follow/list", () => `token=${alice.token}&user_id=${alice.id}`],
    ["GET", "/douyin/relation/follower/list", () => `token=${alice.token}&user_id=${alice.id}`],
    ["GET", "/douyin/relation/friend/list", () => `token=${alice.token}&user_id=${alice.id}`],
  ];
  for (const [method, path, query] of routes) {
    for (const suffix of ["", "/"]) {
      test(`${method} ${path}${suffix}`, async () => {
        if (path === "/douyin/relation/action")
          t.world.follows = t.world.follows.filter((f) => f.follower !== carol.id);
        const r = await call(`${t.url}${path}${suffix}?${query()}`, { method });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.status_code, 0, r.text);
        assert.equal(r.body.status_msg, "success");
        assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
      });
    }
  }
});

describe("parameters", () => {
  test("query, urlencoded, multipart and JSON bodies all work", async () => {
    for (const init of [
      {},
      form({ username: "alice", password: "secret123" }),
      multipart({ username: "alice", password: "secret123" }),
      json({ username: "alice", password: "secret123" }),
    ]) {
      const q = Object.keys(init).length === 0 ? "?username=alice&password=secret123" : "";
      const r = await post(`/douyin/user/login/${q}`, init);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.status_code, 0, r.text);
      assert.equal(r.body.user_id, alice.id);
      assert.equal(await tokens.verify(r.body.token), alice.id);
    }
  });

  test("the body wins over the query for the same key; equal values in both are fine", async () => {
    const wins = await post("/douyin/user/login/?username=alice&password=WRONGwrong", form({ password: "secret123" }));
    assert.equal(wins.body.status_code, 0, wins.text);
    const same = await post(
      "/douyin/user/login/?username=alice&password=secret123",
      form({ username: "alice", password: "secret123" }),
    );
    assert.equal(same.body.status_code, 0, same.text);
  });

  test("a key repeated with different values is a 400; repeated with one value is fine", async () => {
    const bad = await get(`/douyin/user/?token=${alice.token}&user_id=1&user_id=2`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.status_msg, /user_id/);
    const ok = await get(`/douyin/user/?token=${alice.token}&user_id=${bob.id}&user_id=${bob.id}`);
    assert.equal(ok.body.status_code, 0, ok.text);
  });

  test("GET with form fields in its body", async () => {
    const r = await rawRequest(
      "GET",
      "/douyin/relation/follower/list/",
      form({ token: alice.token, user_id: String(alice.id) }),
    );
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status_code, 0, r.text);
  });

  test("integers as strings and as JSON numbers", async () => {
    for (const init of [
      json({ token: bob.token, to_user_id: String(carol.id), action_type: "1" }),
      json({ token: bob.token, to_user_id: carol.id, action_type: 2 }),
    ]) {
      const r = await post("/douyin/relation/action/", init);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.status_code, 0, r.text);
    }
  });

  const bad: Array<[string, string, RequestInit, RegExp]> = [
    ["missing username", "/douyin/user/register/", form({ password: "secret123" }), /missing parameter username/],
    ["missing password", "/douyin/user/login/", form({ username: "alice" }), /missing parameter password/],
    [
      "empty username",
      "/douyin/user/register/",
      form({ username: "", password: "secret123" }),
      /missing parameter username/,
    ],
    [
      "username too long",
      "/douyin/user/register/",
      form({ username: "x".repeat(33), password: "secret123" }),
      /username/,
    ],
    [
      "password too short",
      "/douyin/user/register/",
      form({ username: "zed", password: "12345" }),
      /password: must be 6 to 32/,
    ],
    ["password too long", "/douyin/user/register/", form({ username: "zed", password: "1".repeat(33) }), /password/],
    [
      "username not a string",
      "/douyin/user/register/",
      json({ username: 12, password: "secret123" }),
      /username: must be a string/,
    ],
    [
      "to_user_id not an integer",
      "/douyin/relation/action/",
      form({ to_user_id: "abc", action_type: "1" }),
      /to_user_id: must be an integer/,
    ],
    [
      "to_user_id fractional",
      "/douyin/relation/action/",
      json({ to_user_id: 1.5, action_type: 1 }),
      /to_user_id: must be an integer/,
    ],
    ["to_user_id negative", "/douyin/relation/action/", form({ to_user_id: "-3", action_type: "1" }), /to_user_id/],
    [
      "to_user_id zero",
      "/douyin/relation/action/",
      form({ to_user_id: "0", action_type: "1" }),
      /to_user_id: must be a positive integer/,
    ],
    [
      "to_user_id beyond 2^53",
      "/douyin/relation/action/",
      form({ to_user_id: "99999999999999999999", action_type: "1" }),
      /to_user_id: is out of range/,
    ],
    [
      "action_type 3",
      "/douyin/relation/action/",
      form({ to_user_id: "2", action_type: "3" }),
      /action_type: must be 1 \(follow\) or 2 \(unfollow\)/,
    ],
    ["missing action_type", "/douyin/relation/action/", form({ to_user_id: "2" }), /missing parameter action_type/],
    [
      "JSON array body",
      "/douyin/user/login/",
      { headers: { "content-type": "application/json" }, body: "[1]" },
      /JSON object/,
    ],
  ];
  for (const [name, path, init, msg] of bad) {
    test(`400: ${name}`, async () => {
      const withToken = path.includes("relation") ? `?token=${alice.token}` : "";
      const r = await post(path + withToken, init);
      assert.equal(r.status, 400, r.text);
      assertEnvelope(r.body);
      assert.notEqual(r.body.status_code, 0);
      assert.match(r.body.status_msg, msg);
    });
  }

  test("400: list without user_id names it; ill-typed user_id on /douyin/user/", async () => {
    const r = await get(`/douyin/relation/follow/list/?token=${alice.token}`);
    assert.equal(r.status, 400);
    assert.match(r.body.status_msg, /missing parameter user_id/);
    const r2 = await get(`/douyin/user/?token=${alice.token}&user_id=x1`);
    assert.equal(r2.status, 400);
    assert.match(r2.body.status_msg, /user_id: must be an integer/);
  });

  test("unparsable JSON -> 400, register keeps user_id/token", async () => {
    const r = await post("/douyin/user/register/", {
      headers: { "content-type": "application/json" },
      body: '{"username": "a",',
    });
    assert.equal(r.status, 400);
    assert.match(r.body.status_msg, /not valid JSON/);
    assert.equal(r.body.user_id, 0);
    assert.equal(r.body.token, "");
  });

  test("oversized bodies -> 413 (JSON, urlencoded, multipart, chunked multipart)", async () => {
    const big = "x".repeat(5000);
    for (const init of [json({ username: big }), form({ username: big }), multipart({ username: big })]) {
      const r = await post("/douyin/user/login/", init);
      assert.equal(r.status, 413, r.text);
      assert.notEqual(r.body.status_code, 0);
      assert.equal(r.body.user_id, 0);
    }
    // No content-length: the multipart stream is counted as it arrives.
    const boundary = "----dzugtest";
    const part = (name: string, v: string) =>
      `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${v}\r\n`;
    const payload = `${part("a", "y".repeat(3000))}${part("b", "y".repeat(3000))}--${boundary}--\r\n`;
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(payload));
        c.close();
      },
    });
    const r = await post("/douyin/user/login/", {
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      body: stream,
      duplex: "half",
    } as RequestInit);
    assert.equal(r.status, 413, r.text);
  });

  test("file parts in multipart are refused with 400", async () => {
    const fd = new FormData();
    fd.append("username", "alice");
    fd.append("avatar", new Blob(["abc"]), "a.png");
    const r = await post("/douyin/user/login/", { body: fd });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.status_msg, /file/);
  });
});

describe("tokens", () => {
  test("missing token is a 400 naming it", async () => {
    for (const path of ["/douyin/user/", `/douyin/relation/follow/list/?user_id=1`]) {
      const r = await get(path);
      assert.equal(r.status, 400, r.text);
      assert.match(r.body.status_msg, /missing parameter token/);
    }
    const r = await post(`/douyin/relation/action/?to_user_id=2&action_type=1`);
    assert.equal(r.status, 400);
  });

  test("forged, malformed and expired tokens: 200 with non-zero status_code", async () => {
    const forged = await new TokenService("another-secret-another-secret-another", 3600).issue(alice.id);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(String(alice.id))
      .setIssuer("dzug")
      .setAudience("dzug-api")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(SECRET));
    // Signed with the right key, valid, but not issued for this API (another audience, or none).
    const otherAudience = (aud?: string) => {
      const jwt = new SignJWT({})
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(String(alice.id))
        .setIssuer("dzug")
        .setExpirationTime(Math.floor(Date.now() / 1000) + 3600);
      return (aud ? jwt.setAudience(aud) : jwt).sign(new TextEncoder().encode(SECRET));
    };
    const seen = new Set<number>();
    for (const [tok, msg] of [
      [forged, /invalid/],
      [await otherAudience("another-service"), /invalid/],
      [await otherAudience(), /invalid/],
      ["not-a-jwt", /invalid/],
      [expired, /expired/],
    ] as const) {
      for (const path of ["/douyin/user/", `/douyin/relation/friend/list/?user_id=${alice.id}`]) {
        const sep = path.includes("?") ? "&" : "?";
        const r = await get(`${path}${sep}token=${encodeURIComponent(tok)}`);
        assert.equal(r.status, 200, r.text);
        assert.notEqual(r.body.status_code, 0);
        assert.match(r.body.status_msg, msg);
        seen.add(r.body.status_code);
      }
    }
    assert.equal(seen.size, 2, "invalid and expired have distinct status codes");
    const action = await post(
      `/douyin/relation/action/?token=${encodeURIComponent(expired)}&to_user_id=2&action_type=1`,
    );
    assert.equal(action.status, 200);
    assert.notEqual(action.body.status_code, 0);
  });

  test("Authorization: Bearer is accepted and wins over the token parameter", async () => {
    const r = await get("/douyin/user/", { headers: { authorization: `Bearer ${bob.token}` } });
    assert.equal(r.body.status_code, 0, r.text);
    assert.equal(r.body.user.id, bob.id);
    const both = await get(`/douyin/user/?token=${alice.token}`, { headers: { authorization: `Bearer ${bob.token}` } });
    assert.equal(both.body.user.id, bob.id, "a ?token= in a link someone was sent does not override the header");
    const basic = await get("/douyin/user/", { headers: { authorization: "Basic Zm9vOmJhcg==" } });
    assert.equal(basic.status, 400);
  });

  test("no token or password reaches the gateway's log lines (debug level, failures included)", async () => {
    const before = t.logs.length;
    const secret = "Zq9-not-in-logs";
    await get(`/douyin/user/?token=${secret}`);
    await get(`/douyin/user/?user_id=x&token=${secret}`);
    await post(`/douyin/user/login/?username=alice&password=${secret}`);
    await post("/douyin/user/login/", {
      headers: { "content-type": "application/json" },
      body: `{"password":"${secret}"`,
    });
    await post("/douyin/user/register/", json({ username: "", password: secret }));
    await get("/douyin/user/", { headers: { authorization: `Bearer ${secret}` } });
    await waitFor(() => t.logs.length >= before + 6, { message: "the requests' log lines" });
    const mine = t.logs.slice(before).join("");
    assert.doesNotMatch(mine, new RegExp(secret));
  });
});

describe("responses", () => {
  test("register and login always carry user_id and token", async () => {
    const ok = await post("/douyin/user/register/", form({ username: "dave", password: "secret123" }));
    assert.equal(ok.body.status_code, 0);
    assert.ok(ok.body.user_id > 0);
    assert.ok(ok.body.token.length > 0);
    const taken = await post("/douyin/user/register/", form({ username: "dave", password: "secret123" }));
    assert.equal(taken.status, 200);
    assert.notEqual(taken.body.status_code, 0);
    assert.equal(taken.body.user_id, 0);
    assert.equal(taken.body.token, "");
  });

  test("login: unknown user and wrong password fail the same way", async () => {
    const unknown = await post("/douyin/user/login/", form({ username: "nobody", password: "secret123" }));
    const wrong = await post("/douyin/user/login/", form({ username: "alice", password: "secret999" }));
    for (const r of [unknown, wrong]) {
      assert.equal(r.status, 200);
      assert.notEqual(r.body.status_code, 0);
      assert.equal(r.body.user_id, 0);
      assert.equal(r.body.token, "");
    }
    assert.deepEqual(unknown.body, wrong.body);
  });

  test("/douyin/user/ has all eleven fields, counts from relation, is_follow for the token's user; absent user_id = own", async () => {
    t.world.follows = [
      { follower: alice.id, followee: bob.id },
      { follower: carol.id, followee: bob.id },
      { follower: bob.id, followee: alice.id },
    ];
    const r = await get(`/douyin/user/?token=${alice.token}&user_id=${bob.id}`);
    assert.equal(r.body.status_code, 0);
    assert.deepEqual(Object.keys(r.body.user).sort(), USER_FIELDS);
    assert.deepEqual(r.body.user, {
      id: bob.id,
      name: "bob",
      follow_count: 1,
      follower_count: 2,
      is_follow: true,
      avatar: `https://img.example/${bob.id}.png`,
      background_image: `https://img.example/${bob.id}-bg.png`,
      signature: "hi, I am bob",
      total_favorited: 7 * bob.id,
      work_count: 3,
      favorite_count: 5,
    });
    const own = await get("/douyin/user/", { headers: { authorization: `Bearer ${carol.token}` } });
    assert.equal(own.body.user.id, carol.id);
    assert.equal(own.body.user.is_follow, false);
    assert.equal(own.body.user.follow_count, 1);
    const empty = await get(`/douyin/user/?token=${carol.token}&user_id=`);
    assert.equal(empty.body.user.id, carol.id);
  });

  test("unknown user -> 200 with non-zero status_code", async () => {
    const r = await get(`/douyin/user/?token=${alice.token}&user_id=9999`);
    assert.equal(r.status, 200);
    assert.notEqual(r.body.status_code, 0);
    assert.match(r.body.status_msg, /not found/);
  });

  test("lists: ids are numbers, all fields, newest first; friends carry message and msgType", async () => {
    t.world.follows = [
      { follower: alice.id, followee: bob.id },
      { follower: alice.id, followee: carol.id },
      { follower: bob.id, followee: alice.id },
      { follower: carol.id, followee: alice.id },
    ];
    t.world.messages.set(`${alice.id}-${bob.id}`, { text: "hi bob", from: alice.id });
    t.world.messages.set(`${alice.id}-${carol.id}`, { text: "hi alice", from: carol.id });
    const following = await get(`/douyin/relation/follow/list/?token=${alice.token}&user_id=${alice.id}`);
    assert.deepEqual(
      following.body.user_list.map((u: { id: number }) => u.id),
      [carol.id, bob.id],
    );
    for (const u of following.body.user_list) {
      assert.deepEqual(Object.keys(u).sort(), USER_FIELDS);
      assert.equal(typeof u.id, "number");
      assert.equal(u.is_follow, true);
    }
    const followers = await get(`/douyin/relation/follower/list/?token=${bob.token}&user_id=${alice.id}`);
    assert.deepEqual(
      followers.body.user_list.map((u: { id: number; is_follow: boolean }) => [u.id, u.is_follow]),
      [
        [carol.id, false],
        [bob.id, false],
      ],
    );
    const friends = await get(`/douyin/relation/friend/list/?token=${alice.token}&user_id=${alice.id}`);
    assert.equal(friends.body.status_code, 0);
    assert.deepEqual(Object.keys(friends.body.user_list[0]).sort(), FRIEND_USER_FIELDS);
    const byId = new Map(friends.body.user_list.map((u: { id: number }) => [u.id, u]));
    assert.deepEqual(
      [(byId.get(bob.id) as { message: string }).message, (byId.get(bob.id) as { msgType: number }).msgType],
      ["hi bob", 1],
    );
    assert.deepEqual(
      [(byId.get(carol.id) as { message: string }).message, (byId.get(carol.id) as { msgType: number }).msgType],
      ["hi alice", 0],
    );
    const carols = await get(`/douyin/relation/friend/list/?token=${carol.token}&user_id=${carol.id}`);
    assert.deepEqual(
      carols.body.user_list.map((u: { message: string; msgType: number }) => [u.message, u.msgType]),
      [["hi alice", 1]],
    );
    t.world.messages.clear();
    const none = await get(`/douyin/relation/friend/list/?token=${carol.token}&user_id=${carol.id}`);
    assert.deepEqual(
      none.body.user_list.map((u: { message: string; msgType: number }) => [u.message, u.msgType]),
      [["", 0]],
    );
  });

  test("relation action business failures are 200 with distinct codes", async () => {
    t.world.follows = [];
    const codes = new Set<number>();
    const steps: Array<[string, string, RegExp]> = [
      [`to_user_id=${alice.id}&action_type=1`, "self", /yourself/],
      [`to_user_id=${bob.id}&action_type=2`, "not following", /not following/],
      [`to_user_id=${bob.id}&action_type=1`, "ok", /success/],
      [`to_user_id=${bob.id}&action_type=1`, "again", /already/],
      [`to_user_id=424242&action_type=1`, "no such user", /not found/],
    ];
    for (const [q, name, msg] of steps) {
      const r = await post(`/douyin/relation/action/?token=${alice.token}&${q}`);
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assert.match(r.body.status_msg, msg, name);
      if (name !== "ok") codes.add(r.body.status_code);
    }
    assert.equal(codes.size, 4);
    assert.ok(!codes.has(0));
  });
});

describe("error mapping", () => {
  const cases: Array<[string, Error, number, RegExp]> = [
    [
      "no instance",
      rpcError("/dzug.user.v1.UserService/GetUser", Status.UNAVAILABLE, undefined, "no instance of user"),
      503,
      /unavailable/,
    ],
    [
      "deadline",
      rpcError("/dzug.user.v1.UserService/GetUser", Status.DEADLINE_EXCEEDED, undefined, "deadline"),
      504,
      /timed out/,
    ],
    [
      "internal",
      rpcError("/dzug.user.v1.UserService/GetUser", Status.INTERNAL, undefined, "SECRET-DETAIL db exploded"),
      500,
      /^internal error$/,
    ],
    [
      "unknown reason",
      rpcError("/dzug.user.v1.UserService/GetUser", Status.NOT_FOUND, "SOMETHING_NEW", "SECRET-DETAIL"),
      500,
      /^internal error$/,
    ],
    ["plain exception", new TypeError("SECRET-DETAIL cannot read x of undefined"), 500, /^internal error$/],
    [
      "service INVALID_ARGUMENT",
      rpcError("/dzug.user.v1.UserService/GetUser", Status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "id must be positive"),
      400,
      /invalid parameter: id must be positive/,
    ],
  ];
  for (const [name, err, http, msg] of cases) {
    test(`${name} -> ${http}`, async () => {
      t.world.failNext.set("getUser", err);
      try {
        const r = await get(`/douyin/user/?token=${alice.token}`);
        assert.equal(r.status, http, r.text);
        assertEnvelope(r.body);
        assert.notEqual(r.body.status_code, 0);
        assert.match(r.body.status_msg, msg);
        assert.doesNotMatch(r.text, /SECRET-DETAIL|at .*\.ts/);
      } finally {
        t.world.failNext.clear();
      }
    });
  }

  test("register failure from a dependency still carries user_id and token", async () => {
    t.world.failNext.set("register", rpcError("/dzug.user.v1.UserService/Register", Status.UNAVAILABLE, undefined));
    try {
      const r = await post("/douyin/user/register/", form({ username: "erin", password: "secret123" }));
      assert.equal(r.status, 503);
      assert.equal(r.body.user_id, 0);
      assert.equal(r.body.token, "");
    } finally {
      t.world.failNext.clear();
    }
  });

  test("the request id goes to the services and back to the client", async () => {
    t.world.calls = [];
    const r = await get(`/douyin/user/?token=${alice.token}`, { headers: { "x-request-id": "req-abc.123" } });
    assert.equal(r.headers.get("x-request-id"), "req-abc.123");
    assert.ok(t.world.calls.length > 0);
    for (const c of t.world.calls) assert.equal(c.metadata, "req-abc.123");
    const gen = await get("/openapi.json", { headers: { "x-request-id": "bad id with spaces <script>" } });
    assert.match(gen.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  });

  test("internal failures are logged with details and the request id", async () => {
    t.world.failNext.set("getUser", new TypeError("SECRET-DETAIL boom"));
    try {
      await get(`/douyin/user/?token=${alice.token}`, { headers: { "x-request-id": "trace-me-1" } });
    } finally {
      t.world.failNext.clear();
    }
    const line = t.logs.find((l) => l.includes("SECRET-DETAIL boom"));
    assert.ok(line, "logged");
    assert.match(line, /"req_id":"trace-me-1"/);
    assert.match(line, /"level":"error"/);
  });
});

describe("methods and paths", () => {
  test("wrong method -> 405 JSON with Allow", async () => {
    for (const [method, path, allow] of [
      ["GET", "/douyin/user/register/", "POST"],
      ["DELETE", "/douyin/user/login", "POST"],
      ["POST", "/douyin/user/", "GET, HEAD"],
      ["PUT", "/douyin/relation/follow/list", "GET, HEAD"],
      ["POST", "/openapi.json", "GET, HEAD"],
      ["OPTIONS", "/douyin/relation/action/", "POST"],
    ] as const) {
      const r = await call(t.url + path, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get("allow"), allow);
      assertEnvelope(r.body);
      assert.notEqual(r.body.status_code, 0);
    }
  });

  test("unknown path -> 404 JSON", async () => {
    for (const path of ["/", "/douyin", "/douyin/user/register/extra", "/douyin/publish/list/"]) {
      const r = await get(path);
      assert.equal(r.status, 404);
      assertEnvelope(r.body);
      assert.notEqual(r.body.status_code, 0);
    }
  });

  test("HEAD on a GET route answers without a body", async () => {
    const res = await fetch(`${t.url}/douyin/user/?token=${alice.token}`, { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "");
  });

  test("security headers, no x-powered-by, no caching", async () => {
    const r = await get("/openapi.json");
    assert.equal(r.headers.get("x-powered-by"), null);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.match(r.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.ok(r.headers.get("x-frame-options"));
  });
});

describe("client disconnect", () => {
  test("an HTTP client that goes away cancels the request's RPCs; no error is logged", async () => {
    let entered!: () => void;
    const inLogin = new Promise<void>((r) => {
      entered = r;
    });
    let aborted: Promise<boolean> | undefined;
    t.world.beforeLogin = (signal) => {
      aborted = new Promise((resolve) => {
        if (!signal) return resolve(false);
        const timer = setTimeout(() => resolve(false), 5_000);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      entered();
      return aborted.then(() => signal?.throwIfAborted()); // as a real client rejects
    };
    const logsBefore = t.logs.length;
    try {
      const ctl = new AbortController();
      const req = fetch(`${t.url}/douyin/user/login/?username=alice&password=secret123`, {
        method: "POST",
        signal: ctl.signal,
      }).catch((err: unknown) => err);
      await inLogin;
      ctl.abort();
      await req;
      assert.equal(await aborted, true, "the login RPC's signal aborted when the client went away");
      const mine = () => t.logs.slice(logsBefore);
      const logged = () => mine().filter((l) => l.includes("client disconnected")).length;
      await waitFor(() => logged() > 0, { timeoutMs: 5_000, message: "the disconnect logged" });
      assert.equal(logged(), 1, "the disconnect is logged once, at debug");
      assert.equal(mine().filter((l) => l.includes('"request failed')).length, 0, "not as a failure");
    } finally {
      t.world.beforeLogin = undefined;
    }
  });
});
