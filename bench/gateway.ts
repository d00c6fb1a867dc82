// Gateway benchmark (a script, not a test). Run: node bench/gateway.ts [--quick]
//
// Starts its own system (real etcd + 2 user + 2 relation + the gateway, tests/harness, free ports,
// temp dir) and compares, in the same run, interleaved over several rounds:
//   (a)  gateway           GET /douyin/user/?user_id&token  (user.GetUser ∥ relation.GetRelationStats)
//   (a1..) gw-*            the same gateway with bench-only preloads (VARIANTS): without its token
//                          cache (the state before it), with channelz off on the pool's channels
//   (b)  bare-http         a bare node:http server answering the same JSON body
//   (c)  grpc-direct       in-process nice-grpc GetUser on one channel to one user instance (closed loop)
//   (c') grpc-direct-pair  in-process GetUser ∥ GetRelationStats, the gateway's RPC work per request
//   (d)  per-request       the gateway's Express app with "range-get etcd + new channel per RPC" clients
//   (d') per-request-dial  the same, with a new TCP + HTTP/2 connection per RPC as well
// (a)(a1..)(b)(d)(d') are driven by wrk with the same threads/connections/duration; (c)(c') by a closed loop
// of as many concurrent calls as wrk has connections, for the same duration. Medians over the rounds;
// ratios are medians of per-round ratios against (a); "CPU µs/req" is the serving process's CPU time
// (/proc/<pid>/stat) per request, steadier than req/s on a shared machine. Then a CPU profile of the
// gateway under the same wrk load (node --cpu-prof), summarised by bench/lib/cpuprofile.ts, for the
// gateway and for gw-nocache (before the token cache).
//
// Default: 5 rounds × 4 s per configuration, two 10 s profiles (about 3.5 min). Flags:
//   --quick                 3 rounds × 2 s, one 5 s profile (about 1.5 min)
//   --rounds N --seconds S  rounds, seconds per configuration and round
//   --connections C --threads T   wrk -c / -t (16 / 1); (c)(c') keep C calls in flight
//   --profile-seconds S     0: no profile
//   --only a,b              only these configurations (the gateway, baseline of the ratios, always
//                           runs); optional variants such as gw-nostack run only when named here
//   --keep DIR              keep profiles and process logs in DIR;  --json FILE  write all results
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createChannel, createClient } from "nice-grpc";
import { RelationServiceDefinition } from "../proto/gen/dzug/relation/v1/relation.ts";
import { UserServiceDefinition } from "../proto/gen/dzug/user/v1/user.ts";
import { freePort } from "../tests/harness/ports.ts";
import { DzugSystem, ProcessHandle, TEST_JWT_SECRET } from "../tests/harness/system.ts";
import { waitFor } from "../tests/harness/wait.ts";
import { type CpuProfile, formatSummary, type Summary, summarise } from "./lib/cpuprofile.ts";
import { fmt, markdownTable, median, quantile, table } from "./lib/stats.ts";
import { runWrk, wrkErrorCount } from "./lib/wrk.ts";

const root = join(import.meta.dirname, "..");
const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string", default: "16" },
    threads: { type: "string", default: "1" },
    "profile-seconds": { type: "string" },
    keep: { type: "string" },
    json: { type: "string" },
    only: { type: "string" },
  },
});
const quick = flags.quick === true;
const ROUNDS = Number(flags.rounds ?? (quick ? 3 : 5));
const SECONDS = Number(flags.seconds ?? (quick ? 2 : 4));
const CONNECTIONS = Number(flags.connections);
const THREADS = Number(flags.threads);
const PROFILE_SECONDS = Number(flags["profile-seconds"] ?? (quick ? 5 : 10));
const HARD_LIMIT_MS = 9 * 60_000; // whatever happens, stop everything after this
const dir = flags.keep ?? mkdtempSync(join(tmpdir(), "dzug-bench-gw-"));
mkdirSync(dir, { recursive: true });
const log = (s: string) => process.stdout.write(`${s}\n`);

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time (user + system) of the process that serves HTTP, per request, µs; NaN when not measured. */
  cpuUs: number;
}
interface Config {
  name: string;
  what: string;
  run(seconds: number): Promise<Result>;
}

const load0 = loadavg();
const startedAt = new Date();
log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}, load average ${load0.map((x) => x.toFixed(2)).join(" ")}`,
);
log(
  `rounds ${ROUNDS} × ${SECONDS} s per configuration, wrk -t${THREADS} -c${CONNECTIONS}; profile ${PROFILE_SECONDS} s`,
);

let system: DzugSystem | undefined;
const extra: ProcessHandle[] = [];
const hardStop = setTimeout(() => {
  process.stderr.write("bench: hard time limit reached; stopping everything\n");
  void cleanup().finally(() => process.exit(3));
}, HARD_LIMIT_MS);
hardStop.unref();

async function cleanup(): Promise<void> {
  await Promise.all(extra.map((p) => p.stop("SIGTERM", 10_000)));
  await system?.destroy();
}
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

/** Spawns a bench process (`script` with env) that prints `listening <port>` or answers on `probe`. */
async function startProcess(
  name: string,
  script: string,
  env: Record<string, string>,
  probe: string,
): Promise<ProcessHandle> {
  const p = new ProcessHandle(name, script, env, dir);
  extra.push(p);
  await waitFor(
    async () => {
      if (!p.running) throw new Error(`${name} exited:\n${p.logs()}`);
      return (await fetch(probe)).status === 200;
    },
    { timeoutMs: 30_000, message: `${name} ready` },
  );
  return p;
}

/** A gateway variant: the product's `gateway/main.ts` with bench-only preloads (bench/lib/*.ts). */
interface GatewayVariant {
  name: string;
  what: string;
  preloads: string[];
  env?: Record<string, string>;
  /** Run only when named in --only. */
  optional?: boolean;
}
const VARIANTS: GatewayVariant[] = [
  {
    name: "gw-nocache",
    what: "(a1) gateway without its token cache (every request runs jose's HS256 check; before bccc548)",
    preloads: ["token-nocache.ts"],
  },
  {
    name: "gw-nochz",
    what: "(a2) gateway, grpc.enable_channelz 0 on the pool's channels",
    preloads: ["channelz.ts"],
    env: { BENCH_CHANNELZ: "off" },
  },
  {
    name: "gw-nostack",
    what: "(a3) gateway with Error.stackTraceLimit 0 (what grpc-js' per-call `new Error()` for caller stacks costs)",
    preloads: ["no-stack.ts"],
    optional: true,
  },
];
// --only a,b,c: just these configurations (the gateway, the baseline of every ratio, always runs).
const ONLY = flags.only ? new Set(["gateway", ...flags.only.split(",")]) : undefined;
const wanted = (name: string, optional = false) => (ONLY ? ONLY.has(name) : !optional);

async function startGatewayProcess(
  name: string,
  variant: Pick<GatewayVariant, "preloads" | "env">,
  extraNodeOptions = "",
): Promise<{ handle: ProcessHandle; url: string }> {
  if (!system) throw new Error("no system");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const nodeOptions = [...variant.preloads.map((p) => `--import=${join(root, "bench/lib", p)}`), extraNodeOptions]
    .join(" ")
    .trim();
  const handle = await startProcess(
    name,
    "gateway/main.ts",
    {
      ...system.commonEnv(),
      ...variant.env,
      DZUG_HTTP_HOST: "127.0.0.1",
      DZUG_HTTP_PORT: String(port),
      DZUG_AUTH_JWT_SECRET: TEST_JWT_SECRET,
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    },
    `${url}/readyz`,
  );
  return { handle, url };
}

async function post(
  base: string,
  path: string,
  params: Record<string, string | number>,
): Promise<Record<string, unknown>> {
  const body = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  const res = await fetch(`${base}${path}`, { method: "POST", body });
  return (await res.json()) as Record<string, unknown>;
}

async function closedLoop(call: () => Promise<unknown>, seconds: number, concurrency: number): Promise<Result> {
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await call();
          lat.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  return { rps: lat.length / elapsed, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), errors, cpuUs: Number.NaN };
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 (utime) and 15 (stime) of proc(5), counted from the state field (3) here; 100 ticks/s.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

const wrkConfig = (name: string, what: string, url: () => string, pid: () => number | undefined): Config => ({
  name,
  what,
  async run(seconds) {
    const cpu0 = cpuSeconds(pid());
    const r = await runWrk({ url: url(), threads: THREADS, connections: CONNECTIONS, seconds, dir });
    const cpuUs = ((cpuSeconds(pid()) - cpu0) * 1e6) / Math.max(1, r.requests);
    return { rps: r.rps, p50: r.p50, p99: r.p99, errors: wrkErrorCount(r), cpuUs };
  },
});

try {
  system = await DzugSystem.start({ users: 2, relations: 2 });
  const gw = system.url;
  // Two users; alice follows bob, so bob's stats are non-trivial. The request: alice reads bob.
  const alice = await post(gw, "/douyin/user/register/", { username: "bench_alice", password: "secret123" });
  const bob = await post(gw, "/douyin/user/register/", { username: "bench_bob", password: "secret123" });
  const token = String(alice.token);
  const bobId = Number(bob.user_id);
  const followed = await post(gw, "/douyin/relation/action/", { token, to_user_id: bobId, action_type: 1 });
  if (followed.status_code !== 0) throw new Error(`setup follow failed: ${JSON.stringify(followed)}`);
  const path = `/douyin/user/?user_id=${bobId}&token=${encodeURIComponent(token)}`;
  const bodyText = await (await fetch(`${gw}${path}`)).text();
  if (JSON.parse(bodyText).status_code !== 0) throw new Error(`benchmarked request fails: ${bodyText}`);
  log(`request: GET /douyin/user/?user_id=${bobId}&token=… → ${bodyText.length} bytes: ${bodyText}`);

  const bareUrl = `http://127.0.0.1:${await freePort()}`;
  const bare = await startProcess(
    "bare-http",
    "bench/lib/bare-http.ts",
    { BENCH_PORT: bareUrl.split(":")[2] as string, BENCH_BODY: bodyText },
    bareUrl,
  );
  const startPerRequest = async (name: string, fresh: boolean) => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const handle = await startProcess(
      name,
      "bench/lib/per-request-gateway.ts",
      {
        BENCH_PORT: url.split(":")[2] as string,
        BENCH_FRESH_CONNECTION: fresh ? "1" : "0",
        DZUG_ETCD_ENDPOINTS: system?.etcd.endpoint ?? "",
        DZUG_AUTH_JWT_SECRET: TEST_JWT_SECRET,
        DZUG_LOG_LEVEL: "info",
      },
      `${url}/healthz`,
    );
    const answer = await (await fetch(`${url}${path}`)).text();
    if (answer !== bodyText) throw new Error(`${name} answers differently: ${answer}`);
    return { handle, url };
  };
  const perReq = await startPerRequest("per-request", false);
  const perReqDial = await startPerRequest("per-request-dial", true);
  const variantProcs = new Map<string, { handle: ProcessHandle; url: string }>();
  for (const v of VARIANTS) {
    if (wanted(v.name, v.optional)) variantProcs.set(v.name, await startGatewayProcess(v.name, v));
  }

  const userInst = system.live("user")[0];
  const relInst = system.live("relation")[0];
  if (!userInst || !relInst) throw new Error("no instances");
  const userClient = createClient(UserServiceDefinition, createChannel(userInst.address));
  const relClient = createClient(RelationServiceDefinition, createChannel(relInst.address));
  const aliceId = Number(alice.user_id);

  const allConfigs: Config[] = [
    wrkConfig(
      "gateway",
      "(a) gateway GET /douyin/user/ (GetUser ∥ GetRelationStats)",
      () => `${gw}${path}`,
      () => system?.gateway?.child.pid,
    ),
    ...VARIANTS.filter((v) => variantProcs.has(v.name)).map((v) =>
      wrkConfig(
        v.name,
        v.what,
        () => `${variantProcs.get(v.name)?.url}${path}`,
        () => variantProcs.get(v.name)?.handle.child.pid,
      ),
    ),
    wrkConfig(
      "bare-http",
      "(b) bare node:http, same JSON body",
      () => bareUrl,
      () => bare.child.pid,
    ),
    {
      name: "grpc-direct",
      what: "(c) in-process nice-grpc GetUser, one channel, one user instance",
      run: (s) => closedLoop(() => userClient.getUser({ id: bobId }), s, CONNECTIONS),
    },
    {
      name: "grpc-direct-pair",
      what: "(c') in-process GetUser ∥ GetRelationStats (the gateway's RPCs)",
      run: (s) =>
        closedLoop(
          () =>
            Promise.all([
              userClient.getUser({ id: bobId }),
              relClient.getRelationStats({ viewerId: aliceId, userIds: [bobId] }),
            ]),
          s,
          CONNECTIONS,
        ),
    },
    wrkConfig(
      "per-request",
      "(d) gateway app, etcd range-get + new channel per RPC (grpc-js' shared subchannel pool reuses the connection)",
      () => `${perReq.url}${path}`,
      () => perReq.handle.child.pid,
    ),
    wrkConfig(
      "per-request-dial",
      "(d') the same, and a new TCP + HTTP/2 connection per RPC (local subchannel pool; the Go demo's grpc.Dial)",
      () => `${perReqDial.url}${path}`,
      () => perReqDial.handle.child.pid,
    ),
  ];
  const configs = allConfigs.filter((c) => c.name === "gateway" || wanted(c.name));

  log("warm-up…");
  for (const c of configs) await c.run(1);

  const results = new Map<string, Result[]>(configs.map((c) => [c.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Interleave: each round starts at a different configuration.
    const order = configs.map((_, i) => configs[(i + r) % configs.length] as Config);
    const line: string[] = [];
    for (const c of order) {
      const res = await c.run(SECONDS);
      results.get(c.name)?.push(res);
      line.push(`${c.name} ${fmt.rps(res.rps)}`);
    }
    log(`round ${r + 1}/${ROUNDS}: ${line.join(", ")} req/s`);
  }

  const med = (name: string, k: keyof Result) => median((results.get(name) ?? []).map((x) => x[k]));
  // Ratios: the median over rounds of (this configuration ÷ the gateway in the same round), which
  // cancels most of the drift of a shared machine between rounds.
  const base = results.get("gateway") ?? [];
  const ratio = (name: string, k: keyof Result) =>
    median(
      (results.get(name) ?? []).map((x, i) => x[k] / (base[i]?.[k] ?? Number.NaN)).filter((x) => !Number.isNaN(x)),
    );
  const rows = [
    [
      "configuration",
      "req/s (median)",
      "min–max",
      "p50 ms",
      "p99 ms",
      "req/s ÷ gateway",
      "p50 ÷ gateway",
      "CPU µs/req",
      "CPU ÷ gateway",
      "errors",
    ],
  ];
  for (const c of configs) {
    const rs = results.get(c.name) ?? [];
    const rps = rs.map((x) => x.rps);
    rows.push([
      c.name,
      fmt.rps(med(c.name, "rps")),
      `${fmt.rps(Math.min(...rps))}–${fmt.rps(Math.max(...rps))}`,
      fmt.ms(med(c.name, "p50")),
      fmt.ms(med(c.name, "p99")),
      fmt.ratio(ratio(c.name, "rps")),
      fmt.ratio(ratio(c.name, "p50")),
      Number.isNaN(med(c.name, "cpuUs")) ? "-" : med(c.name, "cpuUs").toFixed(0),
      fmt.ratio(ratio(c.name, "cpuUs")),
      String(rs.reduce((a, x) => a + x.errors, 0)),
    ]);
  }
  log("");
  for (const c of configs) log(`  ${c.name.padEnd(17)} ${c.what}`);
  log("");
  log(table(rows));

  // ---- CPU profile of the gateway under the same wrk load.
  const profiles: Record<string, Summary> = {};
  if (PROFILE_SECONDS > 0) {
    const profiled: GatewayVariant[] = [{ name: "gateway", what: "", preloads: [] }];
    const before = VARIANTS[0];
    if (!quick && before && wanted(before.name)) profiled.push(before);
    for (const variant of profiled) {
      const name = variant.name;
      const profDir = join(dir, `profile-${name}`);
      mkdirSync(profDir, { recursive: true });
      const spawnedAt = performance.now();
      const g = await startGatewayProcess(`${name}-prof`, variant, `--cpu-prof --cpu-prof-dir=${profDir}`);
      const loadFrom = performance.now() - spawnedAt;
      const wr = await runWrk({
        url: `${g.url}${path}`,
        threads: THREADS,
        connections: CONNECTIONS,
        seconds: PROFILE_SECONDS,
        dir,
      });
      await g.handle.stop("SIGTERM", 15_000);
      const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
      if (!file) throw new Error(`no .cpuprofile in ${profDir}`);
      const profile = JSON.parse(readFileSync(join(profDir, file), "utf8")) as CpuProfile;
      // Only the load window counts (start-up and shutdown are cut off; ±0.5 s margin).
      const s = summarise(profile, root, { fromMs: loadFrom + 500, toMs: loadFrom + PROFILE_SECONDS * 1000 - 250 });
      profiles[name] = s;
      log("");
      log(`CPU profile: ${name} under wrk (${fmt.rps(wr.rps)} req/s while profiling; profile ${join(profDir, file)})`);
      log(formatSummary(s, 15));
    }
  }

  const load1 = loadavg();
  log("");
  log(`load average at the end: ${load1.map((x) => x.toFixed(2)).join(" ")}`);
  log("");
  log("markdown:");
  log(markdownTable(rows));
  if (flags.json) {
    writeFileSync(
      flags.json,
      JSON.stringify(
        {
          date: startedAt.toISOString(),
          machine: {
            cpus: cpus().length,
            model: cpus()[0]?.model,
            node: process.version,
            loadStart: load0,
            loadEnd: load1,
          },
          params: { rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, threads: THREADS },
          results: Object.fromEntries(results),
          profiles: Object.fromEntries(
            Object.entries(profiles).map(([k, s]) => [
              k,
              {
                ...s,
                functions: s.functions.slice(0, 40),
                modulesSelf: s.modulesSelf.slice(0, 40),
                modulesInclusive: s.modulesInclusive.slice(0, 40),
              },
            ]),
          ),
        },
        null,
        1,
      ),
    );
  }
} finally {
  clearTimeout(hardStop);
  await cleanup();
  if (!flags.keep) rmSync(dir, { recursive: true, force: true });
}
