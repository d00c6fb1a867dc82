// Shared test helpers for platform/discovery: real etcd clients, an echo gRPC service, log capture.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { Etcd3 } from "etcd3";
import { createServer, type Server } from "nice-grpc";
import pino, { type Logger } from "pino";
import { Registry } from "prom-client";
import { etcdClientOptions, type InstanceRecord, watchBackoff } from "../../platform/discovery/index.ts";
import { UserServiceDefinition, type UserServiceImplementation } from "../../proto/gen/dzug/user/v1/user.ts";
import { EtcdProcess } from "../harness/etcd.ts";
import { waitFor } from "../harness/wait.ts";

export const here = dirname(fileURLToPath(import.meta.url));

export function etcdClient(endpoint: string): Etcd3 {
  return new Etcd3({
    ...etcdClientOptions(endpoint, 2_000),
    faultHandling: { watchBackoff: watchBackoff({ initialMs: 50, maxMs: 500 }) as never },
  });
}

export interface CapturedLogger {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
}

/** A pino logger that keeps its lines in memory (level debug unless LOG=1 asks for stderr). */
export function captureLogger(): CapturedLogger {
  const lines: Array<Record<string, unknown>> = [];
  const stream = {
    write(s: string) {
      const line = JSON.parse(s) as Record<string, unknown>;
      lines.push(line);
      if (lines.length > 5_000) lines.splice(0, 1_000);
      if (process.env.LOG === "1") process.stderr.write(s);
    },
  };
  return { logger: pino({ level: "debug" }, stream), lines };
}

export function newRegistry(): Registry {
  return new Registry();
}

export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const data = await m.get();
  let sum = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, string>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want) && !("le" in l)) sum += v.value;
  }
  return sum;
}

export function record(service: string, id: string, address: string, weight = 100): InstanceRecord {
  return { id, service, address, version: "test", weight, zone: "", startedAt: new Date().toISOString() };
}

/** Echo implementation: GetUser answers with the instance id in user.name; Register with it in token. */
export function echoImpl(
  instanceId: string,
  hooks: { onGetUser?: () => Promise<void> } = {},
): UserServiceImplementation {
  const unimplemented = async (): Promise<never> => {
    throw new Error("not implemented in the echo service");
  };
  return {
    async getUser(req) {
      await hooks.onGetUser?.();
      return { user: { id: req.id, name: instanceId } };
    },
    async register() {
      return { userId: 1, token: instanceId };
    },
    login: unimplemented,
    getUsers: unimplemented,
    verifyToken: unimplemented,
  };
}

export async function startEcho(
  instanceId: string,
  hooks: { onGetUser?: () => Promise<void> } = {},
): Promise<{ server: Server; port: number; address: string }> {
  const server = createServer();
  server.add(UserServiceDefinition, echoImpl(instanceId, hooks));
  const port = await server.listen("127.0.0.1:0");
  return { server, port, address: `127.0.0.1:${port}` };
}

export interface ChildInstance {
  child: ChildProcess;
  id: string;
  port: number;
  exited: Promise<number | null>;
}

/** Spawns tests/discovery/fixtures/instance.ts; resolves once it printed READY (registered and serving). */
export async function spawnInstance(env: {
  endpoint: string;
  prefix: string;
  service: string;
  ttlSeconds: number;
  delayMs?: number;
  /** Answer time in slow mode (SIGUSR2 toggles it). */
  slowMs?: number;
}): Promise<ChildInstance> {
  const child = spawn(process.execPath, [join(here, "fixtures", "instance.ts")], {
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      FIXTURE_ETCD: env.endpoint,
      FIXTURE_PREFIX: env.prefix,
      FIXTURE_SERVICE: env.service,
      FIXTURE_TTL: String(env.ttlSeconds),
      FIXTURE_DELAY_MS: String(env.delayMs ?? 5),
      FIXTURE_SLOW_MS: String(env.slowMs ?? 0),
    },
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  let out = "";
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  const ready = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`fixture exited ${child.exitCode}: ${out}`);
      return /READY (\S+) (\d+)/.exec(out);
    },
    { timeoutMs: 20_000, message: "fixture instance READY" },
  );
  return { child, id: ready[1] as string, port: Number(ready[2]), exited };
}

export interface EtcdFixture {
  /** Set once the file's `before` hook has run. */
  etcd: EtcdProcess;
  client: Etcd3;
  /** Run (all at once) after the file's tests, before etcd is torn down. */
  cleanups: Array<() => Promise<unknown> | unknown>;
}

/** A real etcd for the calling test file: started before its tests, torn down after them. */
export function useEtcd(): EtcdFixture {
  const fx = { cleanups: [] as EtcdFixture["cleanups"] } as EtcdFixture;
  before(async () => {
    fx.etcd = await EtcdProcess.start();
    fx.client = etcdClient(fx.etcd.endpoint);
  });
  after(async () => {
    await Promise.all(fx.cleanups.map((c) => c()));
    fx.client?.close();
    await fx.etcd?.destroy();
  });
  return fx;
}
