// An instance that cannot serve leaves rotation: one of two user instances loses its database (its
// connection to PostgreSQL goes through a TCP relay that the test cuts) under load. Its calls fail
// for a bounded window (callers eject it after consecutive failures; it deregisters from etcd once its
// database ping fails), then no request fails; when the database is back it registers again.
import assert from "node:assert/strict";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "../harness/ports.ts";
import { PostgresProcess } from "../harness/postgres.ts";
import { call, DzugSystem } from "../harness/system.ts";
import { scaled, waitFor } from "../harness/wait.ts";

/** A TCP relay to `port` that can be cut (listener closed, every connection reset) and restored. */
class Relay {
  readonly port: number;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly target: number;
  constructor(port: number, target: number) {
    this.port = port;
    this.target = target;
  }
  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.server = server;
  }
  cut(): void {
    this.server?.close();
    this.server = undefined;
    for (const s of this.sockets) s.resetAndDestroy();
  }
}
let pg: PostgresProcess;
let sys: DzugSystem;
let relay: Relay;
let relayed: Awaited<ReturnType<DzugSystem["addInstance"]>>;
const FAST = { DZUG_DISCOVERY_LEASE_TTL_SECONDS: "3", DZUG_DATABASE_CONNECT_TIMEOUT_MS: "1000" };

before(async () => {
  pg = await PostgresProcess.start();
  sys = await DzugSystem.start({ users: 1, relations: 1, databaseUrl: pg.url, env: FAST });
  relay = new Relay(await freePort(), pg.port);
  await relay.open();
  relayed = await sys.addInstance("user", { DZUG_DATABASE_URL: pg.url.replace(`:${pg.port}/`, `:${relay.port}/`) });
});
after(async () => {
  relay?.cut();
  await sys?.destroy();
  await pg?.destroy();
});

async function userInstances(): Promise<Array<{ id: string; state: string }>> {
  const view = (await (
    await fetch(`${sys.adminUrl}/_dzug/status`, { headers: { accept: "application/json" } })
  ).json()) as {
    services: Array<{ service: string; instances: Array<{ id: string; state: string }> }>;
  };
  return view.services.find((s) => s.service === "user")?.instances ?? [];
}

test("one of two user instances loses its database under load: after a bounded window, 0 failed requests", async () => {
  const { body } = await call(sys.url, "POST", "/douyin/user/register/", { username: "steady", password: "secret123" });
  assert.equal(body.status_code, 0, JSON.stringify(body));
  const me = { id: body.user_id as number, token: body.token as string };
  await waitFor(async () => (await userInstances()).length === 2, { timeoutMs: 10_000, message: "2 user instances" });

  const outcomes: Array<{ at: number; ok: boolean; what: string }> = [];
  let running = true;
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      const login = w === 0 && i % 4 === 0;
      const r = login
        ? await call(sys.url, "POST", "/douyin/user/login/", { username: "steady", password: "secret123" })
        : await call(sys.url, "GET", "/douyin/user/", { token: me.token, user_id: me.id });
      const ok = r.status === 200 && r.body.status_code === 0;
      outcomes.push({ at: Date.now(), ok, what: ok ? "" : `${login ? "login" : "user"}: ${JSON.stringify(r.body)}` });
      await delay(20);
    }
  };
  const workers = Array.from({ length: 4 }, (_, w) => worker(w));
  try {
    // Load established (a count of answers, not a duration) before the cut.
    await waitFor(() => outcomes.filter((o) => o.ok).length >= 20, { message: "20 requests answered before the cut" });
    const cutAt = Date.now();
    relay.cut();
    // Out of rotation: deregistered from etcd (its readiness follows the database).
    await waitFor(async () => (await userInstances()).length === 1, { timeoutMs: 15_000, message: "deregistered" });
    const outAt = Date.now();
    const AFTER = 200;
    await waitFor(() => outcomes.filter((o) => o.at > outAt).length >= AFTER, {
      message: `${AFTER} requests after it left rotation`,
    });
    running = false;
    await Promise.all(workers);
    const failed = outcomes.filter((o) => !o.ok);
    const lastFailure = failed.length > 0 ? Math.max(...failed.map((o) => o.at)) : cutAt;
    const after = outcomes.filter((o) => o.at > outAt);
    console.log(
      `unhealthy instance: ${failed.length} failed of ${outcomes.length}; out of rotation ${outAt - cutAt} ms after the cut; ` +
        `last failure ${lastFailure - cutAt} ms after the cut; ${after.length} requests after, all ok: ${after.every((o) => o.ok)}`,
    );
    assert.ok(
      lastFailure - cutAt < scaled(10_000),
      `failures stop within 10 s (x load) of the cut: ${failed.map((f) => f.what).join("\n")}`,
    );
    assert.deepEqual(
      after.filter((o) => !o.ok).map((o) => o.what),
      [],
      "no failure once it is out of rotation",
    );
  } finally {
    running = false;
    await Promise.all(workers);
  }

  // The database comes back: the instance registers again.
  await relay.open();
  const backAt = Date.now();
  try {
    await waitFor(async () => (await userInstances()).length === 2, { timeoutMs: 30_000, message: "registered again" });
  } catch (err) {
    // What the instance did meanwhile (its pings, its registrar) says which side was slow.
    const tail = relayed.logs().split("\n").slice(-40).join("\n");
    throw new Error(`${(err as Error).message}\n--- ${relayed.name} log, last lines ---\n${tail}`);
  }
  console.log(`registered again ${Date.now() - backAt} ms after the database came back`);
});
