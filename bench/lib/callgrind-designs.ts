// The systems bench/instructions.ts counts, each with the processes that are measured under callgrind:
// dzug 1 + 1 (gateway, user, relation; a message instance runs normally, idle, for the gateway's
// readiness) from this checkout or another one (--baseline), and the anchors (Express 5 or node:http
// → raw grpc-js gateway over two bare grpc-js servers answering from memory).
import { join } from "node:path";
import { freePort } from "../../tests/harness/ports.ts";
import type { DzugSystem } from "../../tests/harness/system.ts";
import { waitFor } from "../../tests/harness/wait.ts";
import type { BenchRequest } from "./bench-data.ts";
import { CallgrindProcess } from "./callgrind.ts";
import type { BenchProcesses } from "./procs.ts";

export interface CountedSystem {
  name: string;
  /** The URL of the benchmarked request. */
  url: string;
  gateway: CallgrindProcess;
  user: CallgrindProcess;
  relation: CallgrindProcess;
}

/** Under valgrind a process runs many times slower: waits are long, and no shedding on its lag. */
const READY_MS = 300_000;
const SLOW_ENV = { DZUG_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: "600000", DZUG_BALANCER_DEADLINE_MS: "60000" };

async function ready(p: CallgrindProcess, probe: () => Promise<boolean>): Promise<void> {
  await waitFor(
    async () => {
      if (!p.running) throw new Error(`${p.name} exited:\n${p.logs()}`);
      return probe();
    },
    { timeoutMs: READY_MS, intervalMs: 500, message: `${p.name} ready` },
  );
}

const answers = (url: string, body: string) => async () => (await (await fetch(url)).text()) === body;
const statusOk = (url: string) => async () => (await fetch(url)).status === 200;

export async function startCountedDzug(
  name: string,
  o: {
    system: DzugSystem;
    procs: BenchProcesses;
    counted: CallgrindProcess[];
    bench: BenchRequest;
    secret: string;
    dir: string;
    /** A checkout of the repo to run (default this one). */
    checkout?: string;
    /** Which processes run under callgrind. */
    roles: ReadonlySet<string>;
    others: readonly string[];
  },
): Promise<CountedSystem> {
  const prefix = `/bench-${name}/services`;
  const common = { ...o.system.commonEnv(), DZUG_DISCOVERY_PREFIX: prefix, DZUG_AUTH_JWT_SECRET: o.secret };
  const cwd = o.checkout ?? join(import.meta.dirname, "../..");
  const serviceEnv = async () => {
    const grpc = await freePort();
    const admin = await freePort();
    const env = {
      ...common,
      DZUG_GRPC_HOST: "127.0.0.1",
      DZUG_GRPC_PORT: String(grpc),
      DZUG_ADMIN_PORT: String(admin),
      DZUG_DISCOVERY_ADVERTISE_HOST: "127.0.0.1",
      DZUG_DATABASE_URL: o.system.databaseUrl,
      ...SLOW_ENV,
    };
    return { env, readyz: `http://127.0.0.1:${admin}/readyz` };
  };
  const counted = async (svc: string) => {
    const { env, readyz } = await serviceEnv();
    const p = new CallgrindProcess(`${name}-${svc}`, `services/${svc}/main.ts`, env, o.dir, {
      cwd,
      counted: o.roles.has(svc),
    });
    o.counted.push(p);
    await ready(p, statusOk(readyz));
    return p;
  };
  const [user, relation] = await Promise.all([counted("user"), counted("relation")]);
  for (const svc of o.others) {
    const { env, readyz } = await serviceEnv();
    await o.procs.start(`${name}-${svc}`, join(cwd, `services/${svc}/main.ts`), env, readyz);
  }
  const port = await freePort();
  const gwEnv = {
    ...common,
    DZUG_HTTP_HOST: "127.0.0.1",
    DZUG_HTTP_PORT: String(port),
    DZUG_ADMIN_PORT: String(await freePort()),
    ...SLOW_ENV,
  };
  const gateway = new CallgrindProcess(`${name}-gateway`, "gateway/main.ts", gwEnv, o.dir, {
    cwd,
    counted: o.roles.has("gateway"),
  });
  o.counted.push(gateway);
  const url = `http://127.0.0.1:${port}${o.bench.path}`;
  await ready(gateway, answers(url, o.bench.body));
  return { name, url, gateway, user, relation };
}

export async function startCountedAnchor(
  name: string,
  http: "express" | "node",
  o: {
    counted: CallgrindProcess[];
    bench: BenchRequest;
    bareEnv: Record<string, string>;
    secret: string;
    dir: string;
    roles: ReadonlySet<string>;
  },
): Promise<CountedSystem> {
  const bare = async (svc: string) => {
    const port = await freePort();
    const p = new CallgrindProcess(
      `${name}-bare-${svc}`,
      "bench/lib/bare-grpc-server.ts",
      { ...o.bareEnv, BENCH_PORT: String(port) },
      o.dir,
      { counted: o.roles.has(svc) },
    );
    o.counted.push(p);
    await ready(p, async () => /^listening \d+/m.test(p.logs()));
    return { p, address: `127.0.0.1:${port}` };
  };
  const [user, relation] = await Promise.all([bare("user"), bare("relation")]);
  const port = await freePort();
  const gateway = new CallgrindProcess(
    `${name}-gateway`,
    "bench/lib/minimal-gateway.ts",
    {
      BENCH_HTTP: http,
      BENCH_PORT: String(port),
      BENCH_USER_ADDR: user.address,
      BENCH_RELATION_ADDR: relation.address,
      BENCH_DEADLINE_MS: SLOW_ENV.DZUG_BALANCER_DEADLINE_MS,
      DZUG_AUTH_JWT_SECRET: o.secret,
    },
    o.dir,
    { counted: o.roles.has("gateway") },
  );
  o.counted.push(gateway);
  const url = `http://127.0.0.1:${port}${o.bench.path}`;
  await ready(gateway, answers(url, o.bench.body));
  return { name, url, gateway, user: user.p, relation: relation.p };
}
