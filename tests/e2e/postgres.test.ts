// The system on PostgreSQL, as in Kubernetes: the same API over the pg backend, and readiness that
// follows the database.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createChannel, createClient } from "nice-grpc";
import { HealthDefinition } from "nice-grpc-server-health";
import { PostgresProcess } from "../harness/postgres.ts";
import { call, DzugSystem } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

let pg: PostgresProcess;
let sys: DzugSystem;

before(async () => {
  pg = await PostgresProcess.start();
  sys = await DzugSystem.start({ users: 2, relations: 2, databaseUrl: pg.url });
});
after(async () => {
  await sys?.destroy();
  await pg?.destroy();
});

test("register, follow and lists work on PostgreSQL", async () => {
  const reg = async (name: string) => {
    const { body } = await call(sys.url, "POST", "/douyin/user/register/", { username: name, password: "secret123" });
    assert.equal(body.status_code, 0, JSON.stringify(body));
    return body as { user_id: number; token: string };
  };
  const a = await reg("pg-alice");
  const b = await reg("pg-bob");
  const dup = await call(sys.url, "POST", "/douyin/user/register/", { username: "pg-alice", password: "secret123" });
  assert.notEqual(dup.body.status_code, 0);
  for (const [who, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const r = await call(sys.url, "POST", "/douyin/relation/action/", {
      token: who.token,
      to_user_id: to.user_id,
      action_type: 1,
    });
    assert.equal(r.body.status_code, 0, JSON.stringify(r.body));
  }
  const friends = await call(sys.url, "GET", "/douyin/relation/friend/list/", { token: a.token, user_id: a.user_id });
  assert.deepEqual(
    friends.body.user_list.map((u: { id: number }) => u.id),
    [b.user_id],
  );
  const me = await call(sys.url, "GET", "/douyin/user/", { token: a.token });
  assert.equal(me.body.user.follow_count, 1);
  assert.equal(me.body.user.follower_count, 1);
});

/** grpc.health.v1 Check of `service` on an instance: "SERVING", "NOT_SERVING", … */
async function health(port: number, service: string): Promise<string> {
  const channel = createChannel(`127.0.0.1:${port}`);
  try {
    const { status } = await createClient(HealthDefinition, channel).check({ service });
    return ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][status] ?? String(status);
  } finally {
    channel.close();
  }
}

test("a service is not ready while its database is gone (HTTP /readyz and gRPC health), yet alive", async () => {
  const inst = sys.live("user")[0];
  assert.ok(inst);
  assert.equal(await health(inst.grpcPort, ""), "SERVING");
  assert.equal(await health(inst.grpcPort, "dzug.user.v1.UserService"), "SERVING");
  await pg.destroy();
  await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${inst.adminPort}/readyz`);
      const body = (await res.json()) as { reason?: string };
      return res.status === 503 && body.reason?.includes("database");
    },
    { timeoutMs: 30_000, message: "/readyz 503 naming the database" },
  );
  await waitFor(async () => (await health(inst.grpcPort, "")) === "NOT_SERVING", {
    timeoutMs: 10_000,
    message: "gRPC health (readiness) NOT_SERVING",
  });
  assert.equal(
    await health(inst.grpcPort, "liveness"),
    "SERVING",
    "liveness stays SERVING: no restart for a database outage",
  );
});
