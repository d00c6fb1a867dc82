// Balancing with a slow instance (a script, not a test). Run: npm run bench:balancing
// Starts the system (tests/harness/system.ts) with BENCH_INSTANCES user instances (3) and one gateway
// per strategy (strategies/index.ts; DZUG_SERVICES_USER_STRATEGY), then in each of BENCH_ROUNDS rounds
// runs every strategy, in turn, for BENCH_SECONDS with every instance healthy and for BENCH_SECONDS
// with one user instance slow: paused BENCH_PAUSE_MS of every BENCH_PERIOD_MS by SIGSTOP/SIGCONT (it
// answers everything, correctly, late). The load is a closed loop of BENCH_CONCURRENCY (4) workers
// on GET /douyin/user/ (user.GetUser + relation.GetRelationStats). Prints, per strategy, the medians
// over rounds of p50/p99 latency and throughput, healthy and slow, their ratios, and each user
// instance's share of the gateway's picks in the slow runs (from /_dzug/status).
// Figures depend on the machine's load: record them on a quiet machine (docs/benchmarks.md).
import { cpus, loadavg } from "node:os";
import { strategyNames } from "../platform/discovery/index.ts";
import { call, DzugSystem, type ProcessHandle, type ServiceInstance } from "../tests/harness/system.ts";
import { median, quantile } from "./lib/stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 3);
const PAUSE_MS = Number(process.env.BENCH_PAUSE_MS ?? 40);
const PERIOD_MS = Number(process.env.BENCH_PERIOD_MS ?? 80);
const STRATEGIES = (process.env.BENCH_STRATEGIES?.split(",") ?? strategyNames) as string[];

interface Gateway {
  strategy: string;
  url: string;
  adminUrl: string;
  handle: ProcessHandle;
}

interface Run {
  p50: number;
  p99: number;
  rps: number;
  failed: number;
  shares: Map<string, number>;
}

/** Pauses `inst` PAUSE_MS of every PERIOD_MS until the returned function is called (it resumes it). */
function dutyCycle(inst: ServiceInstance): () => void {
  const pid = inst.child.pid as number;
  let stopped = false;
  let resume: NodeJS.Timeout | undefined;
  const tick = setInterval(() => {
    process.kill(pid, "SIGSTOP");
    resume = setTimeout(() => process.kill(pid, "SIGCONT"), PAUSE_MS);
  }, PERIOD_MS);
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(tick);
    clearTimeout(resume);
    process.kill(pid, "SIGCONT");
  };
}

async function picks(gw: Gateway): Promise<Map<string, number>> {
  const r = (await (await fetch(`${gw.adminUrl}/_dzug/status?format=json`)).json()) as {
    services: Array<{ service: string; instances: Array<{ id: string; address: string; picks: number }> }>;
  };
  const user = r.services.find((s) => s.service === "user");
  return new Map((user?.instances ?? []).map((i) => [i.address, i.picks]));
}

async function run(gw: Gateway, token: string, userId: number): Promise<Run> {
  const before = await picks(gw);
  const lat: number[] = [];
  let failed = 0;
  const url = `${gw.url}/douyin/user/?user_id=${userId}&token=${encodeURIComponent(token)}`;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const res = await fetch(url);
        const body = (await res.json()) as { status_code?: number; user?: { id?: number } };
        if (res.status !== 200 || body.status_code !== 0 || body.user?.id !== userId) failed++;
        lat.push(performance.now() - t);
      }
    }),
  );
  const after = await picks(gw);
  const total = [...after].reduce((n, [a, p]) => n + p - (before.get(a) ?? 0), 0);
  const shares = new Map([...after].map(([a, p]) => [a, total > 0 ? (p - (before.get(a) ?? 0)) / total : 0]));
  return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), rps: lat.length / SECONDS, failed, shares };
}

const system = await DzugSystem.start({ replicas: { user: INSTANCES, relation: 1, message: 1 }, gateway: false });
const gateways: Gateway[] = [];
const stopSlow: Array<() => void> = [];
try {
  for (const strategy of STRATEGIES) {
    await system.startGateway({ DZUG_SERVICES_USER_STRATEGY: strategy, DZUG_LOG_LEVEL: "warn" });
    gateways.push({ strategy, url: system.url, adminUrl: system.adminUrl, handle: system.gateway as ProcessHandle });
  }
  const first = gateways[0] as Gateway;
  const reg = await call(first.url, "POST", "/douyin/user/register/", {
    username: `bench${Date.now() % 1_000_000}`,
    password: "bench-password-1",
  });
  const token = reg.body.token as string;
  const userId = reg.body.user_id as number;
  const slow = system.live("user")[0] as ServiceInstance;
  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model}, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}; node ${process.version}`,
  );
  console.log(
    `${INSTANCES} user instances; slow: ${slow.address} paused ${PAUSE_MS} ms of every ${PERIOD_MS} ms; ` +
      `${ROUNDS} rounds x ${STRATEGIES.length} strategies x (healthy, slow) x ${SECONDS} s; closed loop of ${CONCURRENCY}`,
  );
  for (const gw of gateways) await run({ ...gw }, token, userId); // warm-up: every gateway has answers from every instance
  const results = new Map<string, { healthy: Run[]; slow: Run[] }>(
    STRATEGIES.map((s) => [s, { healthy: [], slow: [] }]),
  );
  for (let round = 1; round <= ROUNDS; round++) {
    for (const gw of gateways) {
      const r = results.get(gw.strategy) as { healthy: Run[]; slow: Run[] };
      r.healthy.push(await run(gw, token, userId));
      const resume = dutyCycle(slow);
      stopSlow.push(resume);
      try {
        r.slow.push(await run(gw, token, userId));
      } finally {
        resume();
      }
    }
    console.log(`round ${round}/${ROUNDS} done`);
  }
  const m = (rs: Run[], k: "p50" | "p99" | "rps") => median(rs.map((r) => r[k]));
  const f = (x: number, d = 1) => x.toFixed(d).padStart(7);
  console.log(
    `\n${"strategy".padEnd(16)}${"p50 ms".padStart(7)}${"p99 ms".padStart(8)}${"req/s".padStart(8)}` +
      ` | slow:${"p50".padStart(5)}${"p99".padStart(8)}${"req/s".padStart(8)}${"p99x".padStart(7)}${"rps x".padStart(7)}` +
      `${"fail".padStart(6)}  share of the slow instance (others)`,
  );
  for (const [strategy, r] of results) {
    const shares = r.slow.map((x) => x.shares);
    const share = (addr: string) => median(shares.map((s) => s.get(addr) ?? 0));
    const others = system
      .live("user")
      .filter((i) => i !== slow)
      .map((i) => `${(share(i.address) * 100).toFixed(0)}%`)
      .join(" ");
    const failed = [...r.healthy, ...r.slow].reduce((n, x) => n + x.failed, 0);
    console.log(
      `${strategy.padEnd(16)}${f(m(r.healthy, "p50"))}${f(m(r.healthy, "p99"), 1).padStart(8)}${f(m(r.healthy, "rps"), 0).padStart(8)}` +
        ` |     ${f(m(r.slow, "p50"), 1).padStart(5)}${f(m(r.slow, "p99")).padStart(8)}${f(m(r.slow, "rps"), 0).padStart(8)}` +
        `${f(m(r.slow, "p99") / m(r.healthy, "p99"), 2)}${f(m(r.slow, "rps") / m(r.healthy, "rps"), 2)}${String(failed).padStart(6)}` +
        `  ${(share(slow.address) * 100).toFixed(0)}% (${others})`,
    );
  }
} finally {
  for (const s of stopSlow) s();
  await Promise.all(gateways.slice(0, -1).map((g) => g.handle.stop("SIGTERM", 10_000)));
  await system.destroy();
}
