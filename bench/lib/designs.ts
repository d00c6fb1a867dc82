// Starts every design the gateway benchmark compares (see bench/gateway.ts) on one DzugSystem: the
// benchmark's data (alice follows bob; the request is alice reading bob), a second discovery prefix with
// 1 user + 1 relation instance, the anchors and their bare grpc-js backends. Each design says which
// process ids make up its gateway, its user and relation backends and etcd, for the CPU figures.
import { join } from "node:path";
import { freePort } from "../../tests/harness/ports.ts";
import type { DzugSystem, ProcessHandle, ServiceInstance } from "../../tests/harness/system.ts";
import { startBaseline } from "./baseline.ts";
import { bareServerEnv, prepareBenchRequest } from "./bench-data.ts";
import type { BenchProcesses, PidGroups } from "./procs.ts";

export interface Design {
  name: string;
  what: string;
  /** Backend instances, e.g. "1 + 1". */
  backends: string;
  url: string;
  pids: PidGroups;
  /** The dzug gateway's environment (for the profiled copy). */
  gatewayEnv?: Record<string, string>;
}

/** The 1 + 1 services register under their own prefix, so the 2 + 2 gateway never sees them. */
const ONE_PREFIX = "/bench-one/services";
const root = join(import.meta.dirname, "../..");

/** Optional gateway variants: the shipped gateway (1 + 1) with a bench-only preload from bench/lib. */
const VARIANTS: { name: string; what: string; preload: string; env: Record<string, string> }[] = [
  { name: "gw-nocache", what: "dzug-1+1 gateway without its token cache", preload: "token-nocache.ts", env: {} },
  {
    name: "gw-nochz",
    what: "dzug-1+1 gateway, grpc.enable_channelz 0 on the pool's channels",
    preload: "channelz.ts",
    env: { BENCH_CHANNELZ: "off" },
  },
  {
    name: "gw-nostack",
    what: "dzug-1+1 gateway with Error.stackTraceLimit 0 (grpc-js' per-call caller stack)",
    preload: "no-stack.ts",
    env: {},
  },
];

export function gatewayEnv(
  system: DzugSystem,
  secret: string,
  ports: { http: number; admin: number },
  prefix?: string,
): Record<string, string> {
  return {
    ...system.commonEnv(),
    ...(prefix ? { DZUG_DISCOVERY_PREFIX: prefix } : {}),
    DZUG_HTTP_HOST: "127.0.0.1",
    DZUG_HTTP_PORT: String(ports.http),
    DZUG_ADMIN_PORT: String(ports.admin),
    DZUG_AUTH_JWT_SECRET: secret,
  };
}

export async function startDesigns(
  system: DzugSystem,
  procs: BenchProcesses,
  o: { secret: string; only?: ReadonlySet<string>; baseline?: string; log: (s: string) => void },
): Promise<{ designs: Design[]; path: string }> {
  const wanted = (name: string, optional = false) => (o.only ? o.only.has(name) : !optional);
  const gw = system.url;
  const bench = await prepareBenchRequest(gw);
  const { path, body: bodyText } = bench;
  o.log(`request: GET /douyin/user/?user_id=${bench.bobId}&token=… → ${bodyText.length} bytes: ${bodyText}`);
  const answersSame = async (name: string, url: string) => {
    const answer = await (await fetch(`${url}${path}`)).text();
    if (answer !== bodyText) throw new Error(`${name} answers differently: ${answer}`);
  };

  const two = [...system.instances];
  const one: ServiceInstance[] = [
    await system.addInstance("user", { DZUG_DISCOVERY_PREFIX: ONE_PREFIX }),
    await system.addInstance("relation", { DZUG_DISCOVERY_PREFIX: ONE_PREFIX }),
  ];
  // The gateway is ready only with an instance of every service it calls; the others (e.g. message)
  // get one each under the 1 + 1 prefix too, idle in the benchmarked request and not in the figures.
  for (const svc of new Set(two.map((i) => i.service))) {
    if (svc !== "user" && svc !== "relation") await system.addInstance(svc, { DZUG_DISCOVERY_PREFIX: ONE_PREFIX });
  }
  const pidsOf = (list: ServiceInstance[], svc: string) => () =>
    list.filter((i) => i.service === svc).map((i) => i.child.pid);
  const etcd = () => [system.etcd.pid];
  const dzugPids = (gateway: () => ProcessHandle | undefined, list: ServiceInstance[]): PidGroups => ({
    gateway: () => [gateway()?.child.pid],
    user: pidsOf(list, "user"),
    relation: pidsOf(list, "relation"),
    etcd,
  });

  const designs: Design[] = [];
  if (wanted("dzug-2+2"))
    designs.push({
      name: "dzug-2+2",
      what: "the gateway as shipped, 2 user + 2 relation instances (SQLite)",
      backends: "2 + 2",
      url: `${gw}${path}`,
      pids: dzugPids(() => system.gateway, two),
    });

  const startGateway = async (name: string, preload?: string, extra: Record<string, string> = {}) => {
    const port = await freePort();
    const admin = await freePort();
    const env = gatewayEnv(system, o.secret, { http: port, admin }, ONE_PREFIX);
    const nodeOptions: Record<string, string> = preload
      ? { NODE_OPTIONS: `--import=${join(root, "bench/lib", preload)}` }
      : {};
    const handle = await procs.start(
      name,
      "gateway/main.ts",
      { ...env, ...extra, ...nodeOptions },
      `http://127.0.0.1:${admin}/readyz`,
    );
    await answersSame(name, `http://127.0.0.1:${port}`);
    return { handle, url: `http://127.0.0.1:${port}${path}`, env };
  };
  const g11 = await startGateway("dzug-1+1");
  designs.push({
    name: "dzug-1+1",
    what: "the gateway as shipped, 1 user + 1 relation instance (SQLite)",
    backends: "1 + 1",
    url: g11.url,
    pids: dzugPids(() => g11.handle, one),
    gatewayEnv: g11.env,
  });
  if (wanted("dzug-grpc-js")) {
    const env = { DZUG_DISCOVERY_TRANSPORT: "grpc-js" };
    const g = await startGateway("dzug-grpc-js", undefined, env);
    designs.push({
      name: "dzug-grpc-js",
      what: "dzug-1+1's gateway with discovery.transport grpc-js (grpc-js' client instead of node:http2 sessions)",
      backends: "1 + 1",
      url: g.url,
      pids: dzugPids(() => g.handle, one),
      gatewayEnv: { ...g.env, ...env },
    });
  }
  if (o.baseline) {
    const others = [...new Set(two.map((i) => i.service))].filter((x) => x !== "user" && x !== "relation");
    const b = await startBaseline(system, procs, { checkout: o.baseline, secret: o.secret, others });
    await answersSame("baseline-1+1", b.url);
    designs.push({
      name: "baseline-1+1",
      what: `dzug-1+1 started from ${o.baseline} (--baseline: before/after a change)`,
      backends: "1 + 1",
      url: `${b.url}${path}`,
      pids: b.pids,
    });
  }
  for (const v of VARIANTS) {
    if (!wanted(v.name, true)) continue;
    const g = await startGateway(v.name, v.preload, v.env);
    designs.push({ name: v.name, what: v.what, backends: "1 + 1", url: g.url, pids: dzugPids(() => g.handle, one) });
  }

  // The anchors' backends: two bare grpc-js servers answering from memory what dzug answered.
  const [userInst, relInst] = one;
  if (!userInst || !relInst) throw new Error("no 1 + 1 instances");
  const bareEnv = await bareServerEnv(userInst.address, relInst.address, bench);
  const startBare = async (name: string) => {
    const port = await freePort();
    const handle = await procs.start(name, "bench/lib/bare-grpc-server.ts", { ...bareEnv, BENCH_PORT: String(port) });
    return { handle, address: `127.0.0.1:${port}` };
  };
  const bareUser = await startBare("bare-grpc-user");
  const bareRelation = await startBare("bare-grpc-relation");
  const barePids = (gateway: ProcessHandle): PidGroups => ({
    gateway: () => [gateway.child.pid],
    user: () => [bareUser.handle.child.pid],
    relation: () => [bareRelation.handle.child.pid],
    etcd,
  });
  const minimal = [
    { name: "express-grpc", http: "express", what: "Express 5 → raw grpc-js, one channel per backend" },
    { name: "node-grpc", http: "node", what: "minimal node:http → raw grpc-js, one channel per backend" },
  ];
  for (const m of minimal) {
    if (!wanted(m.name)) continue;
    const port = await freePort();
    const handle = await procs.start(m.name, "bench/lib/minimal-gateway.ts", {
      BENCH_HTTP: m.http,
      BENCH_PORT: String(port),
      BENCH_USER_ADDR: bareUser.address,
      BENCH_RELATION_ADDR: bareRelation.address,
      DZUG_AUTH_JWT_SECRET: o.secret,
    });
    await answersSame(m.name, `http://127.0.0.1:${port}`);
    designs.push({
      name: m.name,
      what: `${m.what} (2 bare grpc-js servers from memory)`,
      backends: "1 + 1 bare",
      url: `http://127.0.0.1:${port}${path}`,
      pids: barePids(handle),
    });
  }

  const perCall = [
    { name: "per-call", fresh: false, optional: false, what: "resolve in etcd + new channel per RPC (1 + 1)" },
    {
      name: "per-call-dial",
      fresh: true,
      optional: true,
      what: "the same + a new TCP/HTTP/2 connection per RPC (grpc.Dial per request)",
    },
  ];
  for (const p of perCall) {
    if (!wanted(p.name, p.optional)) continue;
    const port = await freePort();
    const handle = await procs.start(
      p.name,
      "bench/lib/per-request-gateway.ts",
      {
        BENCH_PORT: String(port),
        BENCH_FRESH_CONNECTION: p.fresh ? "1" : "0",
        DZUG_ETCD_ENDPOINTS: system.etcd.endpoint,
        DZUG_DISCOVERY_PREFIX: ONE_PREFIX,
        DZUG_AUTH_JWT_SECRET: o.secret,
        DZUG_LOG_LEVEL: "info",
      },
      `http://127.0.0.1:${port}/openapi.json`,
    );
    await answersSame(p.name, `http://127.0.0.1:${port}`);
    designs.push({
      name: p.name,
      what: `the gateway's app, ${p.what}`,
      backends: "1 + 1",
      url: `http://127.0.0.1:${port}${path}`,
      pids: dzugPids(() => handle, one),
    });
  }

  if (wanted("bare-http", true)) {
    const port = await freePort();
    const handle = await procs.start(
      "bare-http",
      "bench/lib/bare-http.ts",
      { BENCH_PORT: String(port), BENCH_BODY: bodyText },
      `http://127.0.0.1:${port}/`,
    );
    designs.push({
      name: "bare-http",
      what: "bare node:http answering the same bytes (no RPCs)",
      backends: "-",
      url: `http://127.0.0.1:${port}${path}`,
      pids: { gateway: () => [handle.child.pid], user: () => [], relation: () => [], etcd },
    });
  }
  return { designs, path };
}
