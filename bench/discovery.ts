// Discovery benchmark (a script, not a test). Run: node bench/discovery.ts
// (a) unary call cost through Discovery.client (pick + pool channel + retry wrapper) vs a direct
//     nice-grpc client on one channel to the same address; closed loop, interleaved runs, medians.
// (b) register -> visible to a watcher, and revoke (stop) -> gone, over real etcd, in ms.
// Env: BENCH_RUNS (5), BENCH_SECONDS (3), BENCH_CONCURRENCY (16), BENCH_TRIALS (100).
import { cpus } from "node:os";
import { createChannel, createClient } from "nice-grpc";
import pino from "pino";
import { Registry } from "prom-client";
import { Discovery, Registrar, ServiceWatcher } from "../platform/discovery/index.ts";
import { UserServiceDefinition } from "../proto/gen/dzug/user/v1/user.ts";
import { etcdClient, record, spawnInstance } from "../tests/discovery/helpers.ts";
import { EtcdProcess } from "../tests/harness/etcd.ts";
import { quantile } from "./lib/stats.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 100);
const logger = pino({ level: "warn" });

const median = (xs: number[]) => quantile(xs, 0.5);

type Call = () => Promise<unknown>;
async function closedLoop(call: Call, seconds: number, concurrency: number) {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await call();
        lat.push(performance.now() - t);
      }
    }),
  );
  return { rps: lat.length / seconds, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
}

const etcd = await EtcdProcess.start();
const prefix = "/bench";
const children: Array<Awaited<ReturnType<typeof spawnInstance>>> = [];
try {
  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}; runs=${RUNS} x ${SECONDS}s, concurrency=${CONCURRENCY}`,
  );
  // ---------- (a) call cost ----------
  const inst = await spawnInstance({ endpoint: etcd.endpoint, prefix, service: "echo", ttlSeconds: 10, delayMs: 0 });
  children.push(inst);
  const client = etcdClient(etcd.endpoint);
  const discovery = new Discovery({ etcd: client, prefix, logger, metrics: new Registry() });
  const balanced = discovery.client("echo", UserServiceDefinition);
  await discovery.watch("echo").start();
  const channel = createChannel(`127.0.0.1:${inst.port}`);
  const direct = createClient(UserServiceDefinition, channel);
  const calls: Record<string, Call> = {
    direct: () => direct.getUser({ id: 1 }),
    pool: () => balanced.getUser({ id: 1 }),
  };
  for (const c of Object.values(calls)) await closedLoop(c, 1, CONCURRENCY); // warm-up
  const results: Record<string, Array<{ rps: number; p50: number; p99: number }>> = { direct: [], pool: [] };
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 === 0 ? ["direct", "pool"] : ["pool", "direct"];
    for (const name of order) results[name]?.push(await closedLoop(calls[name] as Call, SECONDS, CONCURRENCY));
  }
  console.log("\n(a) GetUser, one instance in a child process, closed loop");
  console.log("| client | calls/s (median) | p50 ms (median) | p99 ms (median) | calls/s per run |");
  console.log("|---|---|---|---|---|");
  for (const [name, rs] of Object.entries(results)) {
    console.log(
      `| ${name} | ${median(rs.map((x) => x.rps)).toFixed(0)} | ${median(rs.map((x) => x.p50)).toFixed(3)} | ${median(rs.map((x) => x.p99)).toFixed(3)} | ${rs.map((x) => x.rps.toFixed(0)).join(", ")} |`,
    );
  }
  // Sequential (concurrency 1): the per-call added latency without queueing.
  const seq: Record<string, number[]> = { direct: [], pool: [] };
  for (let r = 0; r < RUNS; r++)
    for (const name of r % 2 === 0 ? ["direct", "pool"] : ["pool", "direct"])
      seq[name]?.push((await closedLoop(calls[name] as Call, 1, 1)).p50);
  console.log(
    `\nsequential p50 ms (median of ${RUNS}): direct ${median(seq.direct ?? []).toFixed(3)}, pool ${median(seq.pool ?? []).toFixed(3)}`,
  );
  channel.close();
  await discovery.close();

  // ---------- (b) registration visibility ----------
  const regClient = etcdClient(etcd.endpoint);
  const watchClient = etcdClient(etcd.endpoint);
  const watcher = new ServiceWatcher({ etcd: watchClient, prefix, service: "vis", logger, metrics: new Registry() });
  await watcher.start();
  const until = (pred: () => boolean) =>
    new Promise<void>((resolve) => {
      if (pred()) return resolve();
      const on = () => {
        if (pred()) {
          watcher.off("change", on);
          resolve();
        }
      };
      watcher.on("change", on);
    });
  const visible: number[] = [];
  const gone: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const id = `vis-${i}`;
    const reg = new Registrar({
      etcd: regClient,
      prefix,
      record: record("vis", id, "127.0.0.1:1"),
      ttlSeconds: 10,
      logger,
      metrics: new Registry(),
    });
    const t0 = performance.now();
    const seen = until(() => watcher.instances().some((x) => x.id === id));
    await reg.start();
    await seen;
    visible.push(performance.now() - t0);
    const t1 = performance.now();
    const left = until(() => !watcher.instances().some((x) => x.id === id));
    await reg.stop();
    await left;
    gone.push(performance.now() - t1);
  }
  console.log(`\n(b) ${TRIALS} trials, registrar and watcher on separate etcd clients, local etcd`);
  console.log("| transition | median ms | p99 ms | max ms |");
  console.log("|---|---|---|---|");
  console.log(
    `| register (lease grant + put) -> visible | ${median(visible).toFixed(2)} | ${quantile(visible, 0.99).toFixed(2)} | ${Math.max(...visible).toFixed(2)} |`,
  );
  console.log(
    `| stop (lease revoke) -> gone | ${median(gone).toFixed(2)} | ${quantile(gone, 0.99).toFixed(2)} | ${Math.max(...gone).toFixed(2)} |`,
  );
  await watcher.close();
  regClient.close();
  watchClient.close();
  client.close();
} finally {
  for (const c of children) c.child.kill("SIGKILL");
  await etcd.destroy();
}
process.exit(0);
