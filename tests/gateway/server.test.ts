// The gateway as a real process (`node gateway/main.ts`) against a real etcd, with in-process gRPC
// stand-ins of the user and relation services registered the real way (platform Registrar). Checks
// the wiring the app tests cannot: discovery -> balanced clients -> ErrorInfo reasons -> HTTP,
// readiness following etcd, the status page's picks on the admin port, and the graceful stop (in-flight request
// finishes, exit 0).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Etcd3 } from "etcd3";
import { createServer, type Server, Status } from "nice-grpc";
import { errorDetailsServerMiddleware } from "nice-grpc-error-details";
import { Registry } from "prom-client";
import { TokenService } from "../../platform/auth.ts";
import { Registrar } from "../../platform/discovery/index.ts";
import { DomainError, domainErrorsMiddleware, Reason } from "../../platform/errors.ts";
import { createLogger } from "../../platform/logger.ts";
import { MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import { RelationServiceDefinition } from "../../proto/gen/dzug/relation/v1/relation.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { EtcdProcess } from "../harness/etcd.ts";
import { freePort } from "../harness/ports.ts";
import { ProcessHandle, TEST_JWT_SECRET } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

const PREFIX = "/dzug-gw-test/services";
const tokens = new TokenService(TEST_JWT_SECRET, 3600);
const logger = createLogger({ level: "silent", service: "test", instance: "test" });

let etcd: EtcdProcess;
let client: Etcd3;
let grpc: Server;
let grpcPort: number;
let gateway: ProcessHandle;
let url: string;
let adminUrl: string;
let logDir: string;
const registrars: Registrar[] = [];
let releaseSlow: (() => void) | undefined;

before(async () => {
  etcd = await EtcdProcess.start();
  client = new Etcd3({ hosts: etcd.endpoint });
  const names = new Map<string, number>([["ann", 1]]);
  grpc = createServer().use(errorDetailsServerMiddleware).use(domainErrorsMiddleware(logger));
  grpc.add(UserServiceDefinition, {
    async register(req) {
      if (names.has(req.username))
        throw new DomainError(Status.ALREADY_EXISTS, Reason.USERNAME_TAKEN, "username taken");
      const id = names.size + 1;
      names.set(req.username, id);
      return { userId: id, token: await tokens.issue(id) };
    },
    async login() {
      throw new DomainError(Status.UNAUTHENTICATED, Reason.INVALID_CREDENTIALS, "invalid credentials");
    },
    async getUser(req) {
      if (req.id === 99) await new Promise<void>((resolve) => (releaseSlow = resolve));
      if (req.id > names.size && req.id !== 99)
        throw new DomainError(Status.NOT_FOUND, Reason.USER_NOT_FOUND, "no such user");
      return {
        user: {
          id: req.id,
          name: `u${req.id}`,
          avatar: "",
          backgroundImage: "",
          signature: "",
          totalFavorited: 0,
          workCount: 0,
          favoriteCount: 0,
        },
      };
    },
    async getUsers() {
      return { users: [] };
    },
    async verifyToken(req) {
      return { userId: await tokens.verify(req.token) };
    },
  });
  grpc.add(RelationServiceDefinition, {
    async follow() {
      return {};
    },
    async unfollow() {
      throw new DomainError(Status.FAILED_PRECONDITION, Reason.NOT_FOLLOWING, "not following");
    },
    async listFollowing() {
      return { users: [] };
    },
    async listFollowers() {
      return { users: [] };
    },
    async listFriends() {
      return { friends: [] };
    },
    async *streamFollowing() {},
    async *streamFollowers() {},
    async *streamFriends() {},
    async isFriend() {
      return { isFriend: false };
    },
    async getRelationStats(req) {
      return { stats: req.userIds.map((userId) => ({ userId, followCount: 2, followerCount: 3, isFollow: false })) };
    },
  });
  grpc.add(MessageServiceDefinition, {
    async sendMessage() {
      throw new DomainError(Status.FAILED_PRECONDITION, Reason.NOT_FRIENDS, "not friends");
    },
    async listMessages() {
      return { messages: [] };
    },
    async getLatestMessages() {
      return { messages: [] };
    },
  });
  grpcPort = await grpc.listen("127.0.0.1:0");

  const port = await freePort();
  const adminPort = await freePort();
  url = `http://127.0.0.1:${port}`;
  adminUrl = `http://127.0.0.1:${adminPort}`;
  logDir = mkdtempSync(join(tmpdir(), "dzug-gw-"));
  gateway = new ProcessHandle(
    "gateway",
    "gateway/main.ts",
    {
      DZUG_ETCD_ENDPOINTS: etcd.endpoint,
      DZUG_DISCOVERY_PREFIX: PREFIX,
      DZUG_HTTP_HOST: "127.0.0.1",
      DZUG_HTTP_PORT: String(port),
      DZUG_ADMIN_PORT: String(adminPort),
      DZUG_AUTH_JWT_SECRET: TEST_JWT_SECRET,
      DZUG_SERVICES_USER_STRATEGY: "round-robin",
      DZUG_SHUTDOWN_PROPAGATION_DELAY_MS: "500",
      DZUG_SHUTDOWN_DRAIN_TIMEOUT_MS: "5000",
      DZUG_LOG_LEVEL: "info",
    },
    logDir,
  );
  await waitFor(
    async () => {
      if (!gateway.running) throw new Error(`gateway exited:\n${gateway.logs()}`);
      return (await fetch(`${adminUrl}/healthz`)).ok;
    },
    { timeoutMs: 20_000, message: "gateway listening" },
  );
});

after(async () => {
  releaseSlow?.();
  if (gateway?.running) await gateway.stop("SIGKILL");
  await Promise.all(registrars.map((r) => r.stop()));
  await grpc?.shutdown();
  client?.close();
  await etcd?.destroy();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

async function api(path: string, init: RequestInit = {}) {
  const res = await fetch(url + path, init);
  return { status: res.status, body: (await res.json()) as any };
}

/** The admin listener: /readyz, /_dzug/status, /metrics. */
async function admin(path: string) {
  const res = await fetch(adminUrl + path);
  return { status: res.status, body: (await res.json()) as any };
}

function register(service: "user" | "relation" | "message"): Promise<void> {
  const r = new Registrar({
    etcd: client,
    prefix: PREFIX,
    ttlSeconds: 5,
    logger,
    metrics: new Registry(),
    record: {
      id: `${service}-test-1`,
      service,
      address: `127.0.0.1:${grpcPort}`,
      version: "9.9.9",
      weight: 100,
      zone: "",
      startedAt: new Date().toISOString(),
    },
  });
  registrars.push(r);
  return r.start();
}

test("without service instances: /readyz 503 naming them, API calls 503 JSON", async () => {
  // Before the first list from etcd the reason says so; after it, that nothing is registered.
  const ready = await waitFor(
    async () => {
      const r = await admin("/readyz");
      assert.equal(r.status, 503);
      return /user: no live instance/.test(r.body.status_msg) ? r : undefined;
    },
    { timeoutMs: 10_000, message: "discovery listed etcd" },
  );
  assert.match(ready.body.status_msg, /relation: no live instance/);
  const r = await api("/douyin/user/register/?username=zoe&password=secret123", { method: "POST" });
  assert.equal(r.status, 503);
  assert.notEqual(r.body.status_code, 0);
  assert.equal(r.body.user_id, 0);
  assert.equal(r.body.token, "");
});

test("with instances registered in etcd: ready, calls balanced to them, reasons mapped", async () => {
  await register("user");
  // Ready once one upstream has an instance; the others are named degraded (their routes answer 503).
  await waitFor(
    async () => {
      const r = await admin("/readyz");
      return r.status === 200 && JSON.stringify(r.body.degraded) === '["relation","message"]';
    },
    { timeoutMs: 10_000, message: "ready with relation and message degraded" },
  );
  await register("relation");
  await register("message");
  await waitFor(async () => (await admin("/readyz")).body.degraded?.length === 0, {
    timeoutMs: 10_000,
    message: "gateway ready, nothing degraded",
  });

  const reg = await api("/douyin/user/register/", {
    method: "POST",
    body: new URLSearchParams({ username: "zoe", password: "secret123" }),
  });
  assert.equal(reg.status, 200);
  assert.equal(reg.body.status_code, 0);
  assert.equal(reg.body.user_id, 2);
  const taken = await api("/douyin/user/register/", {
    method: "POST",
    body: new URLSearchParams({ username: "zoe", password: "secret123" }),
  });
  assert.equal(taken.status, 200);
  assert.notEqual(taken.body.status_code, 0);
  assert.match(taken.body.status_msg, /taken/);
  const login = await api("/douyin/user/login/?username=zoe&password=secret123", { method: "POST" });
  assert.equal(login.status, 200);
  assert.match(login.body.status_msg, /wrong username or password/);

  const me = await api(`/douyin/user/?token=${reg.body.token}`);
  assert.equal(me.status, 200);
  assert.deepEqual([me.body.user.id, me.body.user.follow_count, me.body.user.follower_count], [2, 2, 3]);
  const missing = await api(`/douyin/user/?token=${reg.body.token}&user_id=77`);
  assert.equal(missing.status, 200);
  assert.match(missing.body.status_msg, /not found/);
  const unfollow = await api(`/douyin/relation/action/?token=${reg.body.token}&to_user_id=1&action_type=2`, {
    method: "POST",
  });
  assert.equal(unfollow.status, 200);
  assert.match(unfollow.body.status_msg, /not following/);

  const status = await admin("/_dzug/status?format=json");
  const user = status.body.services.find((s: { service: string }) => s.service === "user");
  assert.equal(user.strategy, "round-robin", "per-service strategy override");
  assert.equal(user.discovery, "fresh");
  assert.equal(user.instances[0].id, "user-test-1");
  assert.equal(user.instances[0].version, "9.9.9");
  assert.ok(user.instances[0].picks >= 4);
  assert.equal(user.instances[0].share, 100);

  const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
  assert.match(metrics, /dzug_balancer_picks_total\{service="user",upstream="user-test-1",strategy="round-robin"/);
  assert.match(metrics, /dzug_http_requests_total\{route="\/douyin\/user\/register\/",method="POST",status="200"/);
  for (const path of ["/metrics", "/_dzug/status", "/healthz", "/readyz"]) {
    assert.equal((await api(path)).status, 404, `the API port does not serve ${path}`);
  }
});

test("requests Node's HTTP parser rejects are answered in JSON too", async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1", () => socket.write("GARBAGE\r\n\r\n"));
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => (text += c));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.match(answer, /content-type: application\/json/);
  const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
  assert.notEqual(body.status_code, 0);
  assert.equal(typeof body.status_msg, "string");
});

test("SIGTERM: readiness off, the in-flight request completes, then exit 0", async () => {
  const token = await tokens.issue(1);
  const slow = api(`/douyin/user/?token=${token}&user_id=99`);
  await waitFor(() => releaseSlow !== undefined, { timeoutMs: 5_000, message: "slow call reached the service" });
  gateway.child.kill("SIGTERM");
  await waitFor(async () => (await admin("/readyz")).status === 503, { timeoutMs: 5_000, message: "readiness off" });
  releaseSlow?.();
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body.user.id, 99);
  const code = await Promise.race([
    gateway.exited,
    new Promise((resolve) => setTimeout(() => resolve("timeout"), 10_000).unref()),
  ]);
  assert.equal(code, 0, gateway.logs());
  await assert.rejects(fetch(`${url}/openapi.json`));
  await assert.rejects(fetch(`${adminUrl}/healthz`));
  assert.match(gateway.logs(), /"msg":"stopped"/);
});
