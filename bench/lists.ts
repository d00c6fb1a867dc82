// Peak resident memory of the gateway and the relation service while large lists stream: one list of
// `--followers` (default 1,000,000), then `--concurrent` (default 4) of them at once. The figures set
// the chart's memory requests and limits (charts/dzug/values.yaml) and docs/benchmarks.md's table.
//
//   npm run bench:lists [-- --followers 1000000 --concurrent 4 --database postgres]
//
// The system runs as real processes (tests/harness/system.ts) on SQLite (default) or a PostgreSQL it
// starts; the followers are seeded by SQL (tests/harness/big-list.ts). RSS is VmRSS from /proc, every
// 50 ms; the V8 heap and external memory come from each process's /metrics at the end of each phase.
// Needs a quiet machine for figures worth recording (the load average is printed with them).
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { CONTAINER_NODE_OPTIONS, RssSampler, readList, seedFollowers } from "../tests/harness/big-list.ts";
import { PostgresProcess } from "../tests/harness/postgres.ts";
import { call, DzugSystem } from "../tests/harness/system.ts";

const { values } = parseArgs({
  options: {
    followers: { type: "string", default: "1000000" },
    concurrent: { type: "string", default: "4" },
    database: { type: "string", default: "sqlite" },
  },
});
const followers = Number(values.followers);
const concurrent = Number(values.concurrent);
if (!Number.isInteger(followers) || followers < 1) throw new Error("--followers: a positive integer");
if (!Number.isInteger(concurrent) || concurrent < 1) throw new Error("--concurrent: a positive integer");
if (values.database !== "sqlite" && values.database !== "postgres") throw new Error("--database: sqlite or postgres");

const MiB = 2 ** 20;
const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;

/** nodejs_heap_size_used_bytes and nodejs_external_memory_bytes of a process's /metrics. */
async function heapOf(adminUrl: string): Promise<string> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const v = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return `heap used ${mib(v("nodejs_heap_size_used_bytes"))}, external ${mib(v("nodejs_external_memory_bytes"))}`;
}

const pg = values.database === "postgres" ? await PostgresProcess.start() : undefined;
const sys = await DzugSystem.start({
  users: 1,
  relations: 1,
  ...(pg ? { databaseUrl: pg.url } : {}),
  env: {
    DZUG_LOG_LEVEL: "warn",
    DZUG_LISTS_MAX_CONCURRENT_STREAMS: String(Math.max(16, concurrent)),
    // The heap bounded as the chart bounds it; BENCH_NODE_OPTIONS replaces it (e.g. "" for V8's default).
    NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? CONTAINER_NODE_OPTIONS,
  },
});
try {
  const reg = await call(sys.url, "POST", "/douyin/user/register/", { username: "bench-lists", password: "secret123" });
  if (reg.body.status_code !== 0) throw new Error(`register: ${JSON.stringify(reg.body)}`);
  const url = `${sys.url}/douyin/relation/follower/list/?${new URLSearchParams({ token: reg.body.token, user_id: String(reg.body.user_id) })}`;
  const t0 = performance.now();
  const { first, last } = await seedFollowers(sys.databaseUrl, reg.body.user_id, followers, "bench-lists");
  process.stdout.write(
    `seeded ${followers} followers (${values.database}) in ${Math.round(performance.now() - t0)} ms\n`,
  );

  const relation = sys.instances.find((i) => i.service === "relation");
  const pids = { gateway: sys.gateway?.child.pid ?? 0, relation: relation?.child.pid ?? 0 };
  const admin = { gateway: sys.adminUrl, relation: relation?.adminUrl ?? "" };
  for (const n of [1, concurrent]) {
    const rss = new RssSampler(pids);
    const started = performance.now();
    const reads = await Promise.all(Array.from({ length: n }, () => readList(url, (i) => last - i)));
    const ms = performance.now() - started;
    rss.stop();
    for (const r of reads) if (r.entries !== last - first + 1) throw new Error(`a list had ${r.entries} entries`);
    process.stdout.write(`\n${n} list(s) of ${followers} at once: ${Math.round(ms)} ms\n`);
    for (const name of ["gateway", "relation"] as const) {
      const base = rss.baseline.get(name) ?? 0;
      const peak = rss.peak.get(name) ?? 0;
      process.stdout.write(
        `  ${name.padEnd(8)} RSS before ${mib(base)}, peak ${mib(peak)} (+${mib(peak - base)}); ${await heapOf(admin[name])}\n`,
      );
    }
  }
  const [l1, l5, l15] = loadavg();
  process.stdout.write(`\nload average during the run: ${l1?.toFixed(1)} ${l5?.toFixed(1)} ${l15?.toFixed(1)}\n`);
} finally {
  await sys.destroy();
  await pg?.destroy();
}
