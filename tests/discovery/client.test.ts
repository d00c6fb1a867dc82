// The balanced client against real etcd and real gRPC servers: dead instances, retry rules,
// fail-fast, deadlines, and SIGTERM of an instance under load; the hot-path tests run with each
// transport (discovery.transport: grpc-js, http2).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { ClientError, type ClientMiddleware, createServer, ServerError, Status } from "nice-grpc";
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health";
import type { EjectionOptions } from "../../platform/discovery/balancing/outlier.ts";
import {
  Discovery,
  type InstanceRecord,
  Registrar,
  type TransportName,
  transportNames,
} from "../../platform/discovery/index.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { scaled, waitFor } from "../harness/wait.ts";
import {
  captureLogger,
  echoImpl,
  metricValue,
  newRegistry,
  record,
  spawnInstance,
  startEcho,
  useEtcd,
} from "./helpers.ts";

const fx = useEtcd();
const cleanups = fx.cleanups;

const prefixOf = () => `/t-${randomBytes(3).toString("hex")}`;

async function register(prefix: string, rec: InstanceRecord): Promise<Registrar> {
  const r = new Registrar({
    etcd: fx.client,
    prefix,
    record: rec,
    ttlSeconds: 10,
    logger: captureLogger().logger,
    metrics: newRegistry(),
  });
  cleanups.push(() => r.stop());
  await r.start();
  return r;
}

function newDiscovery(prefix: string, transport: TransportName, ejection?: EjectionOptions) {
  const metrics = newRegistry();
  const log = captureLogger();
  const discovery = new Discovery({
    etcd: fx.client,
    prefix,
    logger: log.logger,
    metrics,
    transport,
    ...(ejection ? { ejection } : {}),
  });
  cleanups.push(() => discovery.close());
  return { discovery, metrics, log };
}

for (const transport of transportNames)
  describe(`balanced client (${transport})`, () => {
    test("one instance's port closed: every call succeeds through the others; picks are all counted", async () => {
      const prefix = prefixOf();
      const servers = await Promise.all(["echo-a", "echo-b", "echo-c"].map((id) => startEcho(id)));
      cleanups.push(() => {
        for (const s of servers) s.server.forceShutdown();
      });
      await Promise.all(servers.map((s, i) => register(prefix, record("echo", `echo-${"abc"[i]}`, s.address))));
      const { discovery, metrics } = newDiscovery(prefix, transport);
      const users = discovery.client("echo", UserServiceDefinition);
      await discovery.watch("echo").start();
      await waitFor(() => discovery.watch("echo").instances().length === 3, {
        timeoutMs: 5_000,
        message: "3 instances",
      });
      // Warm every channel, then close echo-b's port while it stays registered.
      for (let i = 0; i < 30; i++) await users.getUser({ id: i });
      servers[1]?.server.forceShutdown();
      const n = 600;
      const seen = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        // Alternate a read-only method and a non-idempotent one: both must go through.
        const name =
          i % 2 === 0
            ? (await users.getUser({ id: i })).user?.name
            : (await users.register({ username: "u", password: "p" })).token;
        seen.set(String(name), (seen.get(String(name)) ?? 0) + 1);
      }
      assert.equal(seen.get("echo-b"), undefined);
      assert.equal((seen.get("echo-a") ?? 0) + (seen.get("echo-c") ?? 0), n);
      const picks = await metricValue(metrics, "dzug_balancer_picks_total", { service: "echo" });
      const retries = await metricValue(metrics, "dzug_balancer_retries_total", { service: "echo" });
      const calls = 30 + n;
      assert.equal(picks, calls + retries, `picks ${picks} = calls ${calls} + retries ${retries}`);
      const snap = discovery.snapshot().find((s) => s.service === "echo");
      assert.equal(
        snap?.instances.reduce((a, i) => a + i.picks, 0),
        picks,
      );
      const deadPicks = snap?.instances.find((i) => i.record.id === "echo-b")?.picks ?? 0;
      // The dead one is skipped while its channel is in TRANSIENT_FAILURE: it costs a few picks, not a third.
      assert.ok(deadPicks < n / 10, `dead instance picked ${deadPicks} times`);
      assert.equal(await metricValue(metrics, "dzug_balancer_failures_total"), 0);
    });

    test("retry rules: business errors never; UNAVAILABLE after sending only for idempotent methods", async () => {
      const prefix = prefixOf();
      const good = await startEcho("echo-good");
      const bad = createServer();
      const unavailable = async (): Promise<never> => {
        throw new ServerError(Status.UNAVAILABLE, "overloaded (from the handler)");
      };
      bad.add(UserServiceDefinition, { ...echoImpl("echo-bad"), getUser: unavailable, register: unavailable });
      const badPort = await bad.listen("127.0.0.1:0");
      const notFound = createServer();
      notFound.add(UserServiceDefinition, {
        ...echoImpl("echo-nf"),
        getUser: async () => {
          throw new ServerError(Status.NOT_FOUND, "no such user");
        },
      });
      const nfPort = await notFound.listen("127.0.0.1:0");
      cleanups.push(() => {
        for (const s of [good.server, bad, notFound]) s.forceShutdown();
      });
      await register(prefix, record("echo", "echo-good", good.address));
      await register(prefix, record("echo", "echo-bad", `127.0.0.1:${badPort}`));
      await register(prefix, record("nf", "nf-1", `127.0.0.1:${nfPort}`));
      // Ejection off: this test is about which failures are retried (ejection has its own test).
      const { discovery, metrics } = newDiscovery(prefix, transport, {
        consecutiveFailures: 0,
        baseMs: 1_000,
        maxMs: 1_000,
      });
      const echo = discovery.client("echo", UserServiceDefinition, { strategy: "round-robin" });
      const nf = discovery.client("nf", UserServiceDefinition);
      await waitFor(
        () => discovery.watch("echo").instances().length === 2 && discovery.watch("nf").instances().length === 1,
        {
          timeoutMs: 5_000,
          message: "instances",
        },
      );
      // GetUser (NO_SIDE_EFFECTS): UNAVAILABLE from echo-bad is retried on echo-good.
      for (let i = 0; i < 20; i++) assert.equal((await echo.getUser({ id: i })).user?.name, "echo-good");
      const getRetries = await metricValue(metrics, "dzug_balancer_retries_total", { method: "GetUser" });
      assert.ok(getRetries >= 5, `GetUser retries ${getRetries}`);
      // Register (no idempotency level): the request reached echo-bad, so its UNAVAILABLE is final.
      let registerFailures = 0;
      for (let i = 0; i < 20; i++) {
        try {
          assert.equal((await echo.register({ username: "u", password: "p" })).token, "echo-good");
        } catch (err) {
          assert.ok(err instanceof ClientError && err.code === Status.UNAVAILABLE, String(err));
          registerFailures++;
        }
      }
      assert.ok(registerFailures >= 5, `register failures ${registerFailures}`);
      assert.equal(await metricValue(metrics, "dzug_balancer_retries_total", { method: "Register" }), 0);
      assert.equal(
        await metricValue(metrics, "dzug_balancer_failures_total", { method: "Register", code: "UNAVAILABLE" }),
        registerFailures,
      );
      // A business error is the answer: one attempt, no retry.
      await assert.rejects(nf.getUser({ id: 1 }), (err) => err instanceof ClientError && err.code === Status.NOT_FOUND);
      assert.equal(await metricValue(metrics, "dzug_balancer_picks_total", { service: "nf" }), 1);
      assert.equal(await metricValue(metrics, "dzug_balancer_retries_total", { service: "nf" }), 0);
      // …and not a balancing failure either.
      assert.equal(await metricValue(metrics, "dzug_balancer_failures_total", { service: "nf" }), 0);
    });

    test("ejection: consecutive failures take an instance out of rotation; a SERVING probe re-admits it", async () => {
      const prefix = prefixOf();
      const good = await startEcho("echo-good");
      let broken = true;
      const health = HealthState();
      health.setStatus("unhealthy", "");
      const flaky = createServer();
      const echo = echoImpl("echo-flaky");
      flaky.add(UserServiceDefinition, {
        ...echo,
        getUser: async (req, ctx) => {
          if (broken) throw new ServerError(Status.INTERNAL, "database unreachable");
          return echo.getUser(req, ctx);
        },
      });
      // Probes counted, so the test waits for one to have been answered instead of a fixed time.
      let probes = 0;
      const healthImpl = HealthServiceImpl(health);
      flaky.add(HealthDefinition, {
        ...healthImpl,
        check: (req, ctx) => {
          probes++;
          return healthImpl.check(req, ctx);
        },
      });
      const flakyPort = await flaky.listen("127.0.0.1:0");
      cleanups.push(() => {
        for (const s of [good.server, flaky]) s.forceShutdown();
      });
      await register(prefix, record("ej", "echo-good", good.address));
      await register(prefix, record("ej", "echo-flaky", `127.0.0.1:${flakyPort}`));
      const { discovery, metrics } = newDiscovery(prefix, transport, {
        consecutiveFailures: 3,
        baseMs: 200,
        maxMs: 400,
      });
      const client = discovery.client("ej", UserServiceDefinition, { strategy: "round-robin" });
      await waitFor(() => discovery.watch("ej").instances().length === 2, { timeoutMs: 5_000, message: "instances" });
      const stateOf = (id: string) =>
        discovery
          .snapshot()
          .find((p) => p.service === "ej")
          ?.instances.find((i) => i.record.id === id)?.state;

      let failures = 0;
      const names: string[] = [];
      for (let i = 0; i < 30; i++) {
        try {
          names.push((await client.getUser({ id: i })).user?.name ?? "");
        } catch (err) {
          assert.ok(err instanceof ClientError && err.code === Status.INTERNAL, String(err)); // INTERNAL: not retried
          failures++;
        }
      }
      assert.equal(failures, 3, "exactly consecutiveFailures calls failed before the ejection");
      assert.ok(
        names.slice(-20).every((n) => n === "echo-good"),
        "after it, every call went to the other instance",
      );
      assert.equal(await metricValue(metrics, "dzug_balancer_ejections_total", { upstream: "echo-flaky" }), 1);
      assert.equal(stateOf("echo-flaky"), "EJECTED");
      // Still unhealthy: failed probes keep it out (no real request is spent on a trial).
      const probesBefore = probes;
      await waitFor(() => probes >= probesBefore + 2, { timeoutMs: 5_000, message: "two NOT_SERVING probes" });
      assert.equal(stateOf("echo-flaky"), "EJECTED");

      broken = false;
      health.setStatus("healthy", "");
      await waitFor(() => stateOf("echo-flaky") !== "EJECTED", { timeoutMs: 5_000, message: "re-admitted" });
      const after = await Promise.all(Array.from({ length: 10 }, (_, i) => client.getUser({ id: i })));
      assert.ok(
        after.some((r) => r.user?.name === "echo-flaky"),
        "calls reach the re-admitted instance",
      );
    });

    test("no live instance: fails fast with UNAVAILABLE; deadlines and caller aborts are honoured", async () => {
      const prefix = prefixOf();
      const { discovery } = newDiscovery(prefix, transport);
      const none = discovery.client("nobody", UserServiceDefinition);
      await discovery.watch("nobody").start();
      const failed = none.getUser({ id: 1 });
      // Fails without waiting for anything (no I/O, no timer): settled before the next turn of the loop.
      const settledAtOnce = await Promise.race([
        failed.then(
          () => true,
          () => true,
        ),
        new Promise<false>((r) => setImmediate(() => r(false))),
      ]);
      assert.ok(settledAtOnce, "the call waited");
      await assert.rejects(
        failed,
        (err) =>
          err instanceof ClientError &&
          err.code === Status.UNAVAILABLE &&
          /no live instance of service "nobody"/.test(err.details),
      );
      assert.equal(discovery.ready("nobody"), false);

      let release: () => void = () => undefined;
      const slow = await startEcho("echo-slow", { onGetUser: () => new Promise<void>((r) => (release = r)) });
      cleanups.push(() => {
        release();
        slow.server.forceShutdown();
      });
      await register(prefix, record("slow", "slow-1", slow.address));
      const c = discovery.client("slow", UserServiceDefinition, { deadlineMs: 300 });
      await waitFor(() => discovery.ready("slow"), { timeoutMs: 5_000, message: "slow ready" });
      const t1 = performance.now();
      await assert.rejects(
        c.getUser({ id: 1 }),
        (err) => err instanceof ClientError && err.code === Status.DEADLINE_EXCEEDED,
      );
      const took = performance.now() - t1;
      assert.ok(took >= 250 && took < scaled(2_000), `deadline after ${took} ms`);
      await assert.rejects(
        c.getUser({ id: 1 }, { deadline: 50 }),
        (err) => err instanceof ClientError && err.code === Status.DEADLINE_EXCEEDED,
      );
      const ctl = new AbortController();
      const p = c.getUser({ id: 1 }, { signal: ctl.signal });
      ctl.abort();
      await assert.rejects(p, (err) => (err as Error).name === "AbortError");
    });

    // Calls with middleware go through nice-grpc and grpc-js whatever the transport.
    test("middleware runs on every per-instance call; snapshot reports the pool", async () => {
      const prefix = prefixOf();
      const s = await startEcho("mw-1");
      cleanups.push(() => s.server.forceShutdown());
      await register(prefix, record("mw", "mw-1", s.address));
      const { discovery } = newDiscovery(prefix, transport);
      const paths: string[] = [];
      const middleware: ClientMiddleware = async function* (call, options) {
        paths.push(call.method.path);
        return yield* call.next(call.request, options);
      };
      const c = discovery.client("mw", UserServiceDefinition, { middleware, strategy: "round-robin" });
      await waitFor(() => discovery.ready("mw"), { timeoutMs: 5_000, message: "mw ready" });
      for (let i = 0; i < 10; i++) await c.getUser({ id: i });
      assert.equal(paths.length, 10);
      assert.equal(paths[0], "/dzug.user.v1.UserService/GetUser");
      const snap = discovery.snapshot().find((x) => x.service === "mw");
      assert.equal(snap?.strategy, "round-robin");
      assert.equal(snap?.ready, true);
      assert.equal(snap?.stale, false);
      assert.equal(snap?.instances[0]?.picks, 10);
      assert.equal(snap?.instances[0]?.state, "READY");
    });

    test("SIGTERM of an instance during load: no call fails", async () => {
      const prefix = prefixOf();
      const children = await Promise.all(
        [0, 1, 2].map(() => spawnInstance({ endpoint: fx.etcd.endpoint, prefix, service: "echo", ttlSeconds: 5 })),
      );
      cleanups.push(() => {
        for (const c of children) c.child.kill("SIGKILL");
      });
      const { discovery, metrics } = newDiscovery(prefix, transport);
      const users = discovery.client("echo", UserServiceDefinition);
      await waitFor(() => discovery.watch("echo").instances().length === 3, {
        timeoutMs: 10_000,
        message: "3 children",
      });
      const victim = children[0];
      assert.ok(victim);
      let stop = false;
      let calls = 0;
      let victimCalls = 0;
      const failures: string[] = [];
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
          try {
            // Half the load is non-idempotent: it must not reach a draining instance either.
            const name =
              (i + w) % 2 === 0
                ? (await users.getUser({ id: i })).user?.name
                : (await users.register({ username: "u", password: "p" })).token;
            calls++;
            if (name === victim.id) victimCalls++;
          } catch (err) {
            failures.push(String(err));
          }
        }
      };
      const load = Promise.all([0, 1, 2, 3, 4, 5].map(worker));
      await waitFor(() => victimCalls >= 50, { timeoutMs: 15_000, message: "load reaching the victim" });
      victim.child.kill("SIGTERM");
      assert.equal(await victim.exited, 0, "the instance exits 0 after draining");
      await waitFor(
        () =>
          !discovery
            .watch("echo")
            .instances()
            .some((i) => i.id === victim.id),
        { timeoutMs: 5_000, message: "victim gone" },
      );
      const after = calls;
      await waitFor(() => calls >= after + 300, { timeoutMs: 15_000, message: "load continues after the exit" });
      stop = true;
      await load;
      assert.deepEqual(failures, []);
      assert.equal(await metricValue(metrics, "dzug_balancer_failures_total"), 0);
    });
  });
