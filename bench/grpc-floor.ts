// The cost floor of one unary RPC in Node (a script, not a test). Run: node bench/grpc-floor.ts [--quick]
//
// The same call (user.GetUser, the benchmark's 60-byte profile, answered from memory) made three ways
// from this process, against servers in their own processes, closed loop with C calls in flight,
// interleaved over rounds:
//   grpc-js        @grpc/grpc-js Client.makeUnaryRequest → bare grpc-js server (bench/lib/bare-grpc-server.ts)
//   nice-grpc      nice-grpc client (no middleware) on a grpc-js channel → the same server
//   dzug-flat      dzug's balanced client as shipped with tracing off (flat path, platform/discovery/transport/unary-call.ts)
//   dzug-h2        the same with discovery.transport http2 (platform/discovery/transport/h2-call.ts) → the grpc-js server
//   dzug-nice      the same client through nice-grpc with the request-id + error-details middleware (the
//                  path before the flat one; with tracing on it adds OpenTelemetry's middleware)
//   node-http2     raw node:http2 client with gRPC framing → raw node:http2 server (bench/lib/h2-grpc-server.ts)
// Reported: calls/s, client CPU µs per call (process.cpuUsage of this process) and server CPU µs per call
// (/proc), medians over rounds, and ratios to node-http2 as medians of per-round ratios. What grpc-js
// costs above HTTP/2 itself is the most that replacing it (e.g. a leaner HTTP/2 client) could save.
//
// Flags: --rounds N (5) --seconds S (4) --concurrency C (32); --quick: 2 rounds × 2 s.
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:http2";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client, credentials } from "@grpc/grpc-js";
import { createChannel, createClient } from "nice-grpc";
import { defaultClientMiddleware } from "../platform/runtime.ts";
import { GetUserRequest, GetUserResponse, UserServiceDefinition } from "../proto/gen/dzug/user/v1/user.ts";
import { freePort } from "../tests/harness/ports.ts";
import { balancedUserClient } from "./lib/balanced-client.ts";
import { BenchProcesses, cpuSeconds } from "./lib/procs.ts";
import { rawMethod } from "./lib/raw-grpc.ts";
import { fmt, median, table } from "./lib/stats.ts";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    seconds: { type: "string" },
    concurrency: { type: "string", default: "32" },
  },
});
const ROUNDS = Number(flags.rounds ?? (flags.quick ? 2 : 5));
const SECONDS = Number(flags.seconds ?? (flags.quick ? 2 : 4));
const CONCURRENCY = Number(flags.concurrency);
const log = (s: string) => process.stdout.write(`${s}\n`);
const PROFILE = { id: 2, name: "bench_bob", avatar: "", backgroundImage: "", signature: "" };
const USERS = JSON.stringify([{ ...PROFILE, totalFavorited: 0, workCount: 0, favoriteCount: 0 }]);

interface Round {
  calls: number;
  seconds: number;
  clientUs: number;
  serverUs: number;
}
interface Way {
  name: string;
  serverPid: () => number | undefined;
  call: () => Promise<unknown>;
}

async function round(way: Way, seconds: number): Promise<Round> {
  let calls = 0;
  const s0 = cpuSeconds(way.serverPid());
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await way.call();
        calls++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const server = cpuSeconds(way.serverPid()) - s0;
  return { calls, seconds: elapsed, clientUs: (c.user + c.system) / calls, serverUs: (server * 1e6) / calls };
}

/** A unary gRPC call over raw node:http2: framed request, whole response, grpc-status from trailers. */
function h2Caller(url: string): () => Promise<unknown> {
  const session = connect(url);
  const path = "/dzug.user.v1.UserService/GetUser";
  const body = GetUserRequest.encode({ id: PROFILE.id }).finish();
  const framed = Buffer.allocUnsafe(5 + body.length);
  framed[0] = 0;
  framed.writeUInt32BE(body.length, 1);
  framed.set(body, 5);
  return () =>
    new Promise((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      req.on("trailers", (t) => {
        status = String(t["grpc-status"]);
      });
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", reject);
      req.on("end", () => {
        if (status !== "0") return reject(new Error(`grpc-status ${status}`));
        const b = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        resolve(GetUserResponse.decode(b.subarray(5, 5 + b.readUInt32BE(1))));
      });
      req.end(framed);
    });
}

const dir = mkdtempSync(join(tmpdir(), "dzug-bench-floor-"));
const procs = new BenchProcesses(dir);
try {
  log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}, load ${loadavg()[0]?.toFixed(2)}`,
  );
  log(`rounds ${ROUNDS} × ${SECONDS} s per way, ${CONCURRENCY} calls in flight`);
  const grpcPort = await freePort();
  const h2Port = await freePort();
  const grpcServer = await procs.start("grpc-js-server", "bench/lib/bare-grpc-server.ts", {
    BENCH_PORT: String(grpcPort),
    BENCH_USERS: USERS,
  });
  const h2Server = await procs.start("h2-server", "bench/lib/h2-grpc-server.ts", {
    BENCH_PORT: String(h2Port),
    BENCH_USERS: USERS,
  });
  const address = `127.0.0.1:${grpcPort}`;
  const raw = new Client(address, credentials.createInsecure());
  const m = rawMethod(UserServiceDefinition, "getUser");
  const grpcCall = () =>
    new Promise((resolve, reject) =>
      raw.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, { id: PROFILE.id }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  const channel = createChannel(address);
  const nice = createClient(UserServiceDefinition, channel);
  const flat = balancedUserClient(address);
  const viaNice = balancedUserClient(address, defaultClientMiddleware(false));
  const overH2 = balancedUserClient(address, undefined, "http2");
  const ways: Way[] = [
    { name: "grpc-js", serverPid: () => grpcServer.child.pid, call: grpcCall },
    { name: "nice-grpc", serverPid: () => grpcServer.child.pid, call: () => nice.getUser({ id: PROFILE.id }) },
    { name: "dzug-flat", serverPid: () => grpcServer.child.pid, call: () => flat.client.getUser({ id: PROFILE.id }) },
    { name: "dzug-h2", serverPid: () => grpcServer.child.pid, call: () => overH2.client.getUser({ id: PROFILE.id }) },
    {
      name: "dzug-nice",
      serverPid: () => grpcServer.child.pid,
      call: () => viaNice.client.getUser({ id: PROFILE.id }),
    },
    { name: "node-http2", serverPid: () => h2Server.child.pid, call: h2Caller(`http://127.0.0.1:${h2Port}`) },
  ];
  for (const w of ways) await round(w, 1); // warm-up
  const results = new Map<string, Round[]>(ways.map((w) => [w.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const line: string[] = [];
    for (let i = 0; i < ways.length; i++) {
      const w = ways[(i + r) % ways.length] as Way;
      const res = await round(w, SECONDS);
      results.get(w.name)?.push(res);
      line.push(`${w.name} ${fmt.rps(res.calls / res.seconds)}`);
    }
    log(`round ${r + 1}/${ROUNDS}: ${line.join(", ")} calls/s`);
  }
  const base = results.get("node-http2") ?? [];
  const ratio = (name: string, f: (x: Round) => number) =>
    median((results.get(name) ?? []).map((x, i) => f(x) / f(base[i] as Round)));
  const rows = [
    ["way", "calls/s", "client CPU µs/call", "server CPU µs/call", "client ÷ node-http2", "server ÷ node-http2"],
  ];
  for (const w of ways) {
    const rs = results.get(w.name) ?? [];
    rows.push([
      w.name,
      fmt.rps(median(rs.map((x) => x.calls / x.seconds))),
      median(rs.map((x) => x.clientUs)).toFixed(1),
      median(rs.map((x) => x.serverUs)).toFixed(1),
      fmt.ratio(ratio(w.name, (x) => x.clientUs)),
      fmt.ratio(ratio(w.name, (x) => x.serverUs)),
    ]);
  }
  log("");
  log(table(rows));
  log(`load at the end: ${loadavg()[0]?.toFixed(2)}`);
  raw.close();
  flat.close();
  viaNice.close();
  overH2.close();
  channel.close();
} finally {
  await procs.stopAll();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
