// Instructions per request (a script, not a test). Run: node bench/instructions.ts [--quick]
//
// CPU time and req/s depend on what else the machine runs; instruction counts hardly do. This runs
// the gateway benchmark's request (`GET /douyin/user/?user_id&token`: user.GetUser ∥
// relation.GetRelationStats) a fixed number of times against systems whose processes run under
// valgrind's callgrind (bench/lib/callgrind.ts), and reports the instructions each process executed
// per request (all its threads: JS, GC, compiler, libuv), counted only while the measured requests ran:
//   dzug-1+1       the gateway, a user and a relation instance as shipped (SQLite)
//   express-grpc   Express 5 → raw grpc-js over two bare grpc-js servers from memory (bench/lib)
//   node-grpc      (--only) the same with node:http
//   baseline-1+1   (--baseline DIR) dzug 1 + 1 from another checkout: before/after a change
// Each system is started, warmed up (--warmup requests, not counted), then measured --repeats times
// (--requests each, --connections keep-alive connections, every answer checked), then stopped.
// One connection by default: each request is served alone, so none shares an event-loop turn, a
// socket write or an HTTP/2 frame batch with another. With several in flight the per-request count
// depends on how many arrive together, which depends on timing (the machine's load), not the code.
// Each count is also given without V8's garbage collector and optimising compilers (by C++ function,
// bench/lib/callgrind-dump.ts): they come in lumps (a major GC, a tier-up) that a window may or may
// not contain, so that figure is the steadier one for a before/after; the total is the cost. Under
// valgrind V8 also keeps tiering code up for thousands of requests (its compiler threads get little
// time), so "without GC and compilers" is read from the repeat with the fewest, the total's median.
// Under valgrind the processes run ~50× slower, so deadlines and the event-loop-lag shedding limit are
// raised for these processes (the shedder still runs); nothing else differs from the shipped config.
//
// Flags: --requests N (2000) --warmup N (6000) --repeats N (3) --connections C (1) --quick (500/1000/1)
//        --only a,b (systems; dzug-1+1 and express-grpc by default) --baseline DIR --keep DIR --json FILE
//        --counted gateway,user,relation (the processes run under callgrind; the others run normally,
//        which makes a gateway-only before/after several times faster)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensurePrerequisites, VALGRIND } from "../scripts/prerequisites.ts";
import { DzugSystem, TEST_JWT_SECRET } from "../tests/harness/system.ts";
import { bareServerEnv, prepareBenchRequest } from "./lib/bench-data.ts";
import type { CallgrindProcess } from "./lib/callgrind.ts";
import { type CountedSystem, startCountedAnchor, startCountedDzug } from "./lib/callgrind-designs.ts";
import { driveFixedCount } from "./lib/fixed-count.ts";
import { BenchProcesses } from "./lib/procs.ts";
import { fmt, markdownTable, median, table } from "./lib/stats.ts";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    requests: { type: "string" },
    warmup: { type: "string" },
    repeats: { type: "string" },
    connections: { type: "string", default: "1" },
    only: { type: "string" },
    counted: { type: "string", default: "gateway,user,relation" },
    baseline: { type: "string" },
    keep: { type: "string" },
    json: { type: "string" },
  },
});
const quick = flags.quick === true;
const REQUESTS = Number(flags.requests ?? (quick ? 500 : 2000));
const WARMUP = Number(flags.warmup ?? (quick ? 1000 : 6000));
const REPEATS = Number(flags.repeats ?? (quick ? 1 : 3));
const CONNECTIONS = Number(flags.connections);
const ONLY = new Set(flags.only ? flags.only.split(",") : ["dzug-1+1", "express-grpc"]);
if (flags.baseline) ONLY.add("baseline-1+1");
const COUNTED = new Set(flags.counted.split(","));
const missing = ensurePrerequisites([VALGRIND], { install: true });
if (missing.length > 0) {
  process.stderr.write(`${missing.join("\n")}\n`);
  process.exit(2);
}
const dir = flags.keep ?? mkdtempSync(join(tmpdir(), "dzug-bench-instr-"));
mkdirSync(dir, { recursive: true });
const log = (s: string) => process.stdout.write(`${s}\n`);

const ROLES = ["gateway", "user", "relation"] as const;
type Role = (typeof ROLES)[number];
/** Instructions per request of each role, one entry per repeat: all, and without GC and compilers. */
type Counts = Record<Role, { total: number[]; rest: number[] }>;

let system: DzugSystem | undefined;
const procs = new BenchProcesses(dir);
const counted: CallgrindProcess[] = [];
async function stopCounted(): Promise<void> {
  await Promise.all(counted.splice(0).map((p) => p.stop()));
}
async function cleanup(): Promise<void> {
  await stopCounted();
  await procs.stopAll();
  await system?.destroy();
}
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

async function measure(s: CountedSystem, expectBody: string): Promise<Counts> {
  const t0 = Date.now();
  await driveFixedCount({ url: s.url, requests: WARMUP, connections: CONNECTIONS, expectBody });
  log(`  ${s.name}: warm-up ${WARMUP} requests in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const out: Counts = {
    gateway: { total: [], rest: [] },
    user: { total: [], rest: [] },
    relation: { total: [], rest: [] },
  };
  for (let r = 0; r < REPEATS; r++) {
    const t1 = Date.now();
    await Promise.all(ROLES.map((role) => s[role].start()));
    await driveFixedCount({ url: s.url, requests: REQUESTS, connections: CONNECTIONS, expectBody });
    const dumps = await Promise.all(ROLES.map((role) => s[role].dump()));
    ROLES.forEach((role, i) => {
      const d = dumps[i];
      out[role].total.push(d ? d.total / REQUESTS : Number.NaN);
      out[role].rest.push(d ? (d.total - d.gc - d.compiler) / REQUESTS : Number.NaN);
    });
    const k = ROLES.map(
      (role) => `${role} ${fmtK(out[role].total[r] as number)} (${fmtK(out[role].rest[r] as number)})`,
    ).join(", ");
    log(
      `  ${s.name}: repeat ${r + 1}/${REPEATS}, ${REQUESTS} requests in ${((Date.now() - t1) / 1000).toFixed(0)} s: ${k} k instr/req (without GC and compilers)`,
    );
  }
  return out;
}

const fmtK = (x: number) => (Number.isNaN(x) ? "-" : (x / 1000).toFixed(1));

try {
  log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  log(
    `${REQUESTS} requests × ${REPEATS} repeats after ${WARMUP} warm-up, ${CONNECTIONS} connections; systems: ${[...ONLY].join(", ")}`,
  );
  system = await DzugSystem.start({ users: 1, relations: 1 });
  const bench = await prepareBenchRequest(system.url);
  const user0 = system.instances.find((i) => i.service === "user");
  const rel0 = system.instances.find((i) => i.service === "relation");
  if (!user0 || !rel0) throw new Error("no user or relation instance");
  const bareEnv = await bareServerEnv(user0.address, rel0.address, bench);
  const others = [...new Set(system.instances.map((i) => i.service))].filter((s) => s !== "user" && s !== "relation");
  log(`request: GET /douyin/user/?user_id=${bench.bobId}&token=… → ${bench.body.length} bytes`);

  const results = new Map<string, Counts>();
  const common = { counted, bench, secret: TEST_JWT_SECRET, dir, roles: COUNTED };
  const dzug = { ...common, system, procs, others };
  const starts: [string, () => Promise<CountedSystem>][] = [
    ["dzug-1+1", () => startCountedDzug("dzug-1+1", dzug)],
    ["express-grpc", () => startCountedAnchor("express-grpc", "express", { ...common, bareEnv })],
    ["node-grpc", () => startCountedAnchor("node-grpc", "node", { ...common, bareEnv })],
    ["baseline-1+1", () => startCountedDzug("baseline-1+1", { ...dzug, checkout: flags.baseline })],
  ];
  for (const [name, start] of starts) {
    if (!ONLY.has(name)) continue;
    const t0 = Date.now();
    const s = await start();
    log(`${name}: started under callgrind in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    results.set(name, await measure(s, bench.body));
    await stopCounted();
  }

  // The total's median; "rest" from the repeat with the fewest: V8 keeps tiering up for thousands of
  // requests under valgrind, and code not yet optimised only ever adds instructions.
  const med = (name: string, role: Role, k: "total" | "rest") => {
    const xs = results.get(name)?.[role][k] ?? [];
    return k === "total" ? median(xs) : Math.min(...xs);
  };
  const rows: string[][] = [
    [
      "system",
      ...ROLES.flatMap((r) => [`${r} k instr/${r === "gateway" ? "req" : "RPC"}`, "without GC, compilers"]),
      "spread (max/min)",
    ],
  ];
  for (const [name, c] of results) {
    const spreads = ROLES.flatMap((r) => [c[r].total, c[r].rest]).map((xs) => Math.max(...xs) / Math.min(...xs));
    const spread = Math.max(...spreads.filter((x) => !Number.isNaN(x)));
    rows.push([
      name,
      ...ROLES.flatMap((r) => [fmtK(med(name, r, "total")), fmtK(med(name, r, "rest"))]),
      fmt.ratio(spread),
    ]);
  }
  const ratioRows: string[][] = [
    ["ratio (total: medians; without GC, compilers: fewest)", ...ROLES.flatMap((r) => [r, "without GC, compilers"])],
  ];
  const ratio = (label: string, a: string, b: string) => {
    if (results.has(a) && results.has(b))
      ratioRows.push([
        label,
        ...ROLES.flatMap((r) => [
          fmt.ratio(med(a, r, "total") / med(b, r, "total")),
          fmt.ratio(med(a, r, "rest") / med(b, r, "rest")),
        ]),
      ]);
  };
  ratio("dzug-1+1 ÷ express-grpc (targets: gateway ≤ 1.15×, services ≤ 2×)", "dzug-1+1", "express-grpc");
  ratio("dzug-1+1 ÷ node-grpc", "dzug-1+1", "node-grpc");
  ratio("dzug-1+1 ÷ baseline-1+1 (after ÷ before)", "dzug-1+1", "baseline-1+1");
  log("");
  log(table(rows));
  log("");
  log(table(ratioRows));
  log("");
  log("markdown:");
  log(markdownTable(rows));
  log("");
  log(markdownTable(ratioRows));
  if (flags.json) {
    const params = { requests: REQUESTS, warmup: WARMUP, repeats: REPEATS, connections: CONNECTIONS };
    writeFileSync(
      flags.json,
      JSON.stringify({ date: new Date().toISOString(), params, results: Object.fromEntries(results) }, null, 1),
    );
  }
} finally {
  await cleanup();
  if (!flags.keep) rmSync(dir, { recursive: true, force: true });
}
