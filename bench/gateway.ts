// Gateway benchmark (a script, not a test). Run: node bench/gateway.ts [--quick]
//
// Starts its own systems (tests/harness: real etcd, SQLite in a temp dir, free loopback ports) and runs
// the benchmarked request, `GET /douyin/user/?user_id&token` (user.GetUser ∥ relation.GetRelationStats),
// against several designs doing the same work, interleaved in the same rounds (each round starts at the
// next design), all driven by wrk with the same threads/connections/duration:
//   dzug-2+2       the gateway as shipped over 2 user + 2 relation instances
//   dzug-1+1       the same over 1 user + 1 relation instance (its own discovery prefix)
//   dzug-grpc-js   dzug-1+1 with discovery.transport grpc-js on the gateway (same 1 + 1 instances)
//   express-grpc   Express 5 → raw grpc-js, one channel per backend (bench/lib/minimal-gateway.ts)
//   node-grpc      minimal node:http → raw grpc-js, the same
//                  (both call two bare grpc-js servers answering from memory: bench/lib/bare-grpc-server.ts)
//   per-call       the gateway's Express app, resolving in etcd + a new channel per RPC (the original
//                  demo's design; bench/lib/per-request-gateway.ts) over the 1 + 1 services
// Optional, with --only NAME,…: per-call-dial (a new TCP + HTTP/2 connection per RPC as well),
// bare-http (node:http answering the same bytes), gw-nocache / gw-nochz / gw-nostack (bench/lib preloads).
//
// For every design and round: req/s, p50/p99 (wrk), and CPU µs per request of each process group
// (/proc/<pid>/stat: the gateway, the user and the relation backends, etcd), steadier than req/s on a
// shared machine. Then the table, each service's CPU per RPC against the bare grpc-js server, issue
// 11's targets (ratios: medians of per-round ratios) and, unless --profile-seconds 0, a CPU profile of
// the dzug-1+1 gateway under the same load (bench/lib/cpuprofile.ts).
//
// Default: 5 rounds × 8 s, wrk -t1 -c32, one 10 s profile (about 5 min). Flags:
//   --quick                 2 rounds × 4 s, no profile (about 1.5 min)
//   --rounds N --seconds S --connections C --threads T --profile-seconds S
//   --profile-design NAME   profile that dzug gateway instead of dzug-1+1's (e.g. dzug-grpc-js)
//   --only a,b              these designs only (dzug-1+1 and express-grpc, the bases of the ratios, always run)
//   --baseline DIR          also run dzug 1 + 1 from another checkout DIR ("baseline-1+1"; before/after)
//   --keep DIR              keep profiles and process logs in DIR;  --json FILE  write all results
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DzugSystem, TEST_JWT_SECRET } from "../tests/harness/system.ts";
import { type Design, startDesigns } from "./lib/designs.ts";
import {
  compareRows,
  designTable,
  type GroupCpu,
  perRpcTable,
  type RoundResult,
  targetRows,
  targets,
} from "./lib/gateway-report.ts";
import { BenchProcesses, groupCpu } from "./lib/procs.ts";
import { profileGateway } from "./lib/profile-gateway.ts";
import { fmt, markdownTable, table } from "./lib/stats.ts";
import { runWrk, wrkErrorCount } from "./lib/wrk.ts";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string", default: "32" },
    threads: { type: "string", default: "1" },
    "profile-seconds": { type: "string" },
    "profile-design": { type: "string" },
    keep: { type: "string" },
    json: { type: "string" },
    only: { type: "string" },
    baseline: { type: "string" },
  },
});
const quick = flags.quick === true;
const ROUNDS = Number(flags.rounds ?? (quick ? 2 : 5));
const SECONDS = Number(flags.seconds ?? (quick ? 4 : 8));
const CONNECTIONS = Number(flags.connections);
const THREADS = Number(flags.threads);
const PROFILE_SECONDS = Number(flags["profile-seconds"] ?? (quick ? 0 : 10));
const dir = flags.keep ?? mkdtempSync(join(tmpdir(), "dzug-bench-gw-"));
mkdirSync(dir, { recursive: true });
const log = (s: string) => process.stdout.write(`${s}\n`);
const BASE = "dzug-1+1";
const ANCHOR = "express-grpc";
const PROFILED = flags["profile-design"] ?? BASE;
const ONLY = flags.only ? new Set([BASE, ANCHOR, ...flags.only.split(",")]) : undefined;

// Whatever happens, stop everything after the planned time plus a margin.
const plannedS = 60 + ROUNDS * 9 * (SECONDS + 1) + PROFILE_SECONDS * 2;
const hardStop = setTimeout(() => {
  process.stderr.write("bench: hard time limit reached; stopping everything\n");
  void cleanup().finally(() => process.exit(3));
}, plannedS * 2_000);
hardStop.unref();

const load0 = loadavg();
const startedAt = new Date();
log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}, load average ${load0.map((x) => x.toFixed(2)).join(" ")}`,
);
log(`rounds ${ROUNDS} × ${SECONDS} s per design, wrk -t${THREADS} -c${CONNECTIONS}; profile ${PROFILE_SECONDS} s`);

let system: DzugSystem | undefined;
const procs = new BenchProcesses(dir);
async function cleanup(): Promise<void> {
  await procs.stopAll();
  await system?.destroy();
}
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

async function run(d: Design, seconds: number): Promise<RoundResult> {
  const before = groupCpu(d.pids);
  const r = await runWrk({ url: d.url, threads: THREADS, connections: CONNECTIONS, seconds, dir });
  const after = groupCpu(d.pids);
  const perReq = (k: keyof GroupCpu) => (((after[k] ?? 0) - (before[k] ?? 0)) * 1e6) / Math.max(1, r.requests);
  const cpuUs: GroupCpu = {
    gateway: perReq("gateway"),
    user: perReq("user"),
    relation: perReq("relation"),
    etcd: perReq("etcd"),
  };
  return { rps: r.rps, p50: r.p50, p99: r.p99, errors: wrkErrorCount(r), cpuUs };
}

try {
  system = await DzugSystem.start({ users: 2, relations: 2 });
  const { designs, path } = await startDesigns(system, procs, {
    secret: TEST_JWT_SECRET,
    only: ONLY,
    baseline: flags.baseline,
    log,
  });
  log("warm-up…");
  for (const d of designs) await run(d, 2);

  const results = new Map<string, RoundResult[]>(designs.map((d) => [d.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const order = designs.map((_, i) => designs[(i + r) % designs.length] as Design);
    const line: string[] = [];
    for (const d of order) {
      const res = await run(d, SECONDS);
      results.get(d.name)?.push(res);
      line.push(`${d.name} ${fmt.rps(res.rps)}`);
    }
    log(`round ${r + 1}/${ROUNDS}: ${line.join(", ")} req/s`);
  }

  const rows = designTable(designs, results, BASE);
  const rpcRows = perRpcTable(designs, results, ANCHOR);
  const targetList = targets(results, { dzug: BASE, express: ANCHOR, perCall: "per-call" });
  // The grpc-js transport's gateway against the same bounds (its backends are dzug-1+1's).
  if (results.has("dzug-grpc-js"))
    targetList.push(
      ...targets(results, { dzug: "dzug-grpc-js", express: ANCHOR, perCall: "per-call" }).filter(
        (t) => !t.what.includes("service CPU"),
      ),
    );
  log("");
  for (const d of designs) log(`  ${d.name.padEnd(13)} ${d.what}`);
  log("");
  log(table(rows));
  log("");
  log("CPU per served RPC (each request makes one GetUser and one GetRelationStats):");
  log(table(rpcRows));
  log("");
  log("issue 11's targets (1 + 1 instances, same run, medians of per-round ratios):");
  log(table(targetRows(targetList)));
  if (results.has("baseline-1+1")) {
    log("");
    log("before/after (--baseline):");
    log(table(compareRows(results, BASE, "baseline-1+1")));
  }
  log("");
  log(
    "for reference, not measured here: Moleculer (moleculer-web → TCP transporter → two services), measured once " +
      "for issue 11 in a run where dzug-1+1 served 891 req/s: 4334 req/s, gateway 232 µs/req, all 385 µs/req",
  );

  const profile =
    PROFILE_SECONDS > 0
      ? await profileGateway(system, procs, {
          dir,
          path,
          seconds: PROFILE_SECONDS,
          threads: THREADS,
          connections: CONNECTIONS,
          design: PROFILED,
          env: designs.find((d) => d.name === PROFILED)?.gatewayEnv ?? {},
          log,
        })
      : undefined;

  const load1 = loadavg();
  log("");
  log(`load average at the end: ${load1.map((x) => x.toFixed(2)).join(" ")}`);
  log("");
  log("markdown:");
  log(markdownTable(rows));
  log("");
  log(markdownTable(rpcRows));
  log("");
  log(markdownTable(targetRows(targetList)));
  if (flags.json) {
    const machine = { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, load0, load1 };
    const params = { rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, threads: THREADS };
    const out = { date: startedAt.toISOString(), machine, params, results: Object.fromEntries(results), profile };
    writeFileSync(flags.json, JSON.stringify(out, null, 1));
  }
} finally {
  clearTimeout(hardStop);
  await cleanup();
  if (!flags.keep) rmSync(dir, { recursive: true, force: true });
}
