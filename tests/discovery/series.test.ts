// Per-instance metric series leave with the instance: 100 instances registered in a real etcd, called
// through a real discovery pool (picks, call durations, ejections) and deregistered again leave
// /metrics and the pool's maps as they were with the live instances alone.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { ClientError, createServer, ServerError, Status } from "nice-grpc";
import { Discovery, Registrar } from "../../platform/discovery/index.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { waitFor } from "../harness/wait.ts";
import { captureLogger, echoImpl, newRegistry, record, startEcho, useEtcd } from "./helpers.ts";

const fx = useEtcd();
const SERVICE = "churn";
const CHURNS = 100;

/** The upstream label values (the called instances) on /metrics text. */
function instancesIn(text: string): Set<string> {
  return new Set([...text.matchAll(/[{,]upstream="([^"]*)"/g)].map((m) => m[1] as string));
}

/** Series lines (not HELP/TYPE) of a /metrics text. */
const seriesCount = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;

test(`${CHURNS} instances register, are called and leave: their series and pool entries leave with them`, async () => {
  const prefix = `/t-${randomBytes(3).toString("hex")}`;
  const ok = await startEcho("echo-ok");
  // Every call to this one fails INTERNAL: its instances get ejected (one failure ejects, below).
  const failing = createServer();
  failing.add(UserServiceDefinition, {
    ...echoImpl("echo-failing"),
    getUser: async () => {
      throw new ServerError(Status.INTERNAL, "broken on purpose");
    },
  });
  const failingAddress = `127.0.0.1:${await failing.listen("127.0.0.1:0")}`;
  const registrars = new Set<Registrar>();
  fx.cleanups.push(async () => {
    await Promise.all([...registrars].map((r) => r.stop()));
    ok.server.forceShutdown();
    failing.forceShutdown();
  });
  const register = async (id: string, address: string): Promise<Registrar> => {
    const r = new Registrar({
      etcd: fx.client,
      prefix,
      record: record(SERVICE, id, address),
      ttlSeconds: 10,
      logger: captureLogger().logger,
      metrics: newRegistry(),
    });
    registrars.add(r);
    await r.start();
    return r;
  };

  const metrics = newRegistry();
  const discovery = new Discovery({
    etcd: fx.client,
    prefix,
    logger: captureLogger().logger,
    metrics,
    // One failure ejects; the probe would come only after a minute (the instance leaves long before).
    ejection: { consecutiveFailures: 1, baseMs: 60_000, maxMs: 60_000 },
  });
  fx.cleanups.push(() => discovery.close());
  const client = discovery.client(SERVICE, UserServiceDefinition, { strategy: "round-robin" });
  const watcher = discovery.watch(SERVICE);
  const live = ["live-1", "live-2"];
  for (const id of live) await register(id, ok.address);
  await waitFor(() => watcher.instances().length === live.length, { timeoutMs: 10_000, message: "live instances" });
  const known = (id: string) => watcher.instances().some((r) => r.id === id);

  let countAfter10 = 0;
  for (let i = 0; i < CHURNS; i++) {
    const id = `gone-${i}`;
    const broken = i % 2 === 1;
    const r = await register(id, broken ? failingAddress : ok.address);
    await waitFor(() => known(id), { timeoutMs: 10_000, message: `${id} discovered` });
    // Round-robin over three instances: three calls pick each once.
    for (let c = 0; c < live.length + 1; c++) {
      await client.getUser({ id: c }).catch((err: unknown) => {
        assert.ok(broken && err instanceof ClientError && err.code === Status.INTERNAL, String(err));
      });
    }
    const during = await metrics.metrics();
    assert.ok(instancesIn(during).has(id), `${id} has series while it is registered`);
    if (broken)
      assert.match(during, new RegExp(`dzug_balancer_ejections_total\\{service="${SERVICE}",upstream="${id}"\\} 1`));
    await r.stop();
    registrars.delete(r);
    await waitFor(() => !known(id), { timeoutMs: 10_000, message: `${id} leaves the live set` });
    if (i === 9) countAfter10 = seriesCount(await metrics.metrics());
  }

  const text = await metrics.metrics();
  assert.deepEqual([...instancesIn(text)].sort(), live, "only the live instances have series");
  assert.doesNotMatch(text, /gone-/);
  assert.equal(seriesCount(text), countAfter10, "the series count does not grow with churn");
  assert.deepEqual(discovery.poolSizes().get(SERVICE), { entries: live.length, series: live.length });
  // The live instances still serve and are still counted.
  for (let c = 0; c < 4; c++) assert.equal((await client.getUser({ id: c })).user?.name, "echo-ok");
  assert.match(
    await metrics.metrics(),
    /dzug_balancer_picks_total\{service="churn",upstream="live-1",strategy="round-robin"\} \d+/,
  );
});

test("a call in flight when its instance leaves ends without bringing the instance's series back", async () => {
  const prefix = `/t-${randomBytes(3).toString("hex")}`;
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));
  const slow = await startEcho("echo-slow", { onGetUser: () => held });
  fx.cleanups.push(() => {
    release();
    slow.server.forceShutdown();
  });
  const r = new Registrar({
    etcd: fx.client,
    prefix,
    record: record(SERVICE, "leaving", slow.address),
    ttlSeconds: 10,
    logger: captureLogger().logger,
    metrics: newRegistry(),
  });
  await r.start();
  const metrics = newRegistry();
  const discovery = new Discovery({ etcd: fx.client, prefix, logger: captureLogger().logger, metrics });
  fx.cleanups.push(() => discovery.close());
  const client = discovery.client(SERVICE, UserServiceDefinition);
  const watcher = discovery.watch(SERVICE);
  await waitFor(() => watcher.instances().length === 1, { timeoutMs: 10_000, message: "instance discovered" });
  const call = client.getUser({ id: 1 });
  await waitFor(async () => instancesIn(await metrics.metrics()).has("leaving"), {
    timeoutMs: 10_000,
    message: "the call picked the instance",
  });
  await r.stop();
  await waitFor(() => watcher.instances().length === 0, { timeoutMs: 10_000, message: "instance leaves" });
  assert.doesNotMatch(await metrics.metrics(), /upstream="leaving"/);
  release();
  // The server still answers the call it had accepted (its drain does the same on SIGTERM).
  assert.equal((await call).user?.name, "echo-slow");
  assert.doesNotMatch(await metrics.metrics(), /upstream="leaving"/);
  assert.deepEqual(discovery.poolSizes().get(SERVICE), { entries: 0, series: 0 });
});
