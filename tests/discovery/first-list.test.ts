// A balanced call made before discovery's first list of its service waits for that list within the
// call's deadline (platform/discovery/registry/first-list.ts), on every path a call takes: the http2 and
// grpc-js transports' flat paths, and nice-grpc with client middleware (tracing). Against a real etcd
// that is down when the calls start.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { ClientError, type ClientMiddleware, Status } from "nice-grpc";
import { Discovery, instanceKey, type TransportName } from "../../platform/discovery/index.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { EtcdProcess } from "../harness/etcd.ts";
import { freePort } from "../harness/ports.ts";
import { waitFor } from "../harness/wait.ts";
import { captureLogger, etcdClient, newRegistry, record, startEcho } from "./helpers.ts";

const passThrough: ClientMiddleware = async function* (call, options) {
  return yield* call.next(call.request, options);
};

/** Every path a balanced call can take. */
const paths: Array<{ name: string; transport: TransportName; middleware?: ClientMiddleware }> = [
  { name: "http2", transport: "http2" },
  { name: "grpc-js", transport: "grpc-js" },
  { name: "nice-grpc middleware", transport: "http2", middleware: passThrough },
];

const prefixOf = () => `/t-${randomBytes(3).toString("hex")}`;

describe("a call before discovery's first list", () => {
  test("waits for the list and succeeds once etcd answers (each path)", async (t) => {
    const prefix = prefixOf();
    const etcd = await EtcdProcess.start();
    t.after(() => etcd.destroy());
    const echo = await startEcho("echo-1");
    t.after(() => echo.server.forceShutdown());
    const admin = etcdClient(etcd.endpoint);
    t.after(() => admin.close());
    await admin
      .put(instanceKey(prefix, "echo", "echo-1"))
      .value(JSON.stringify(record("echo", "echo-1", echo.address)));
    // etcd goes away before any discovery lists: the calls below start before a first list can succeed.
    await etcd.stop();

    const running = paths.map(({ name, transport, middleware }) => {
      const etcdOfDiscovery = etcdClient(etcd.endpoint);
      const discovery = new Discovery({
        etcd: etcdOfDiscovery,
        prefix,
        logger: captureLogger().logger,
        metrics: newRegistry(),
        transport,
      });
      t.after(async () => {
        await discovery.close();
        etcdOfDiscovery.close();
      });
      // A deadline far past what etcd's restart takes on a busy machine: the wait ends with the list.
      const users = discovery.client("echo", UserServiceDefinition, {
        deadlineMs: 120_000,
        ...(middleware ? { middleware } : {}),
      });
      const state = { name, discovery, settled: false };
      const call = users.getUser({ id: 1 }).finally(() => (state.settled = true));
      return { state, call };
    });
    // Each discovery has tried to list and failed (stale) while its call is still waiting.
    await waitFor(() => running.every((r) => r.state.discovery.snapshot()[0]?.stale), {
      timeoutMs: 30_000,
      message: "every discovery's first list failed",
    });
    assert.deepEqual(
      running.filter((r) => r.state.settled).map((r) => r.state.name),
      [],
      "no call settled before etcd answered",
    );

    await etcd.restart();
    const answers = await Promise.all(running.map((r) => r.call));
    assert.deepEqual(
      answers.map((a) => a.user?.name),
      paths.map(() => "echo-1"),
    );
  });

  test("never listed: UNAVAILABLE naming the reason once the deadline is reached; an abort ends the wait", async (t) => {
    // Nothing listens on this port: every list fails.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    for (const { name, transport, middleware } of paths) {
      const etcdOfDiscovery = etcdClient(nowhere);
      const discovery = new Discovery({
        etcd: etcdOfDiscovery,
        prefix: prefixOf(),
        logger: captureLogger().logger,
        metrics: newRegistry(),
        transport,
      });
      t.after(async () => {
        await discovery.close();
        etcdOfDiscovery.close();
      });
      const users = discovery.client("echo", UserServiceDefinition, {
        deadlineMs: 400,
        ...(middleware ? { middleware } : {}),
      });
      const t0 = performance.now();
      await assert.rejects(
        users.getUser({ id: 1 }),
        (err) =>
          err instanceof ClientError &&
          err.code === Status.UNAVAILABLE &&
          err.details === 'no live instance of service "echo" (discovery has not listed it from etcd yet)',
        name,
      );
      const took = performance.now() - t0;
      assert.ok(took >= 380, `${name}: gave up after ${took} ms, before the 400 ms deadline`);

      const ctl = new AbortController();
      const waiting = users.getUser({ id: 1 }, { signal: ctl.signal });
      ctl.abort();
      await assert.rejects(waiting, (err) => (err as Error).name === "AbortError", name);
    }
  });
});
