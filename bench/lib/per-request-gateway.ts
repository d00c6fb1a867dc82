// Benchmark configuration (d): the gateway's own Express app (gateway/app.ts, same routes, parsing,
// token check, middleware, JSON) over clients built the way the original Go demo did it: for every
// RPC, range-get the service's instances from etcd, pick one at random, open a new gRPC channel, call,
// close the channel. Compared with the real gateway (list+watch once, one long-lived channel per
// instance) it shows what list+watch buys. A bench-only process; never used by the product.
//
// grpc-js keeps a process-wide subchannel pool: a new channel to an address that another (or a recently
// closed, < 10 s) channel used reuses that TCP/HTTP/2 connection. BENCH_FRESH_CONNECTION=1 gives each
// channel its own pool (`grpc.use_local_subchannel_pool`), so every RPC also dials a new connection,
// as grpc.Dial per request did in the Go demo; without it only the resolve and the channel are new.
//
//   DZUG_ETCD_ENDPOINTS=… DZUG_AUTH_JWT_SECRET=… BENCH_PORT=… [BENCH_FRESH_CONNECTION=1] \
//     node bench/lib/per-request-gateway.ts
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Etcd3 } from "etcd3";
import { type Client, type CompatServiceDefinition, createChannel, createClientFactory } from "nice-grpc";
import { createApp } from "../../gateway/app.ts";
import { TokenService } from "../../platform/auth.ts";
import { normalizeServiceDefinition } from "../../platform/discovery/client.ts";
import { decodeRecord, serviceDir } from "../../platform/discovery/index.ts";
import { createLogger } from "../../platform/logger.ts";
import { createMetricsRegistry } from "../../platform/metrics.ts";
import { defaultClientMiddleware } from "../../platform/service.ts";
import { MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import { RelationServiceDefinition } from "../../proto/gen/dzug/relation/v1/relation.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";

const env = process.env;
const prefix = env.DZUG_DISCOVERY_PREFIX ?? "/dzug/services";
const etcd = new Etcd3({ hosts: (env.DZUG_ETCD_ENDPOINTS ?? "http://127.0.0.1:2379").split(",") });
const factory = createClientFactory().use(defaultClientMiddleware());
const channelOptions = env.BENCH_FRESH_CONNECTION === "1" ? { "grpc.use_local_subchannel_pool": 1 } : {};

function perRequestClient<Def extends CompatServiceDefinition>(service: string, definition: Def): Client<Def> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(normalizeServiceDefinition(definition))) {
    out[key] = async (request: unknown, options: unknown) => {
      const kvs = await etcd.getAll().prefix(serviceDir(prefix, service)).strings();
      const records = [];
      for (const [key, value] of Object.entries(kvs)) {
        const d = decodeRecord(service, key, value);
        if (d.ok) records.push(d.record);
      }
      const rec = records[Math.floor(Math.random() * records.length)];
      if (!rec) throw new Error(`no instance of ${service} in etcd`);
      const channel = createChannel(rec.address, undefined, channelOptions);
      try {
        const client = factory.create(definition, channel) as unknown as Record<
          string,
          (r: unknown, o: unknown) => Promise<unknown>
        >;
        return await (client[key] as (r: unknown, o: unknown) => Promise<unknown>)(request, options);
      } finally {
        channel.close();
      }
    };
  }
  return out as Client<Def>;
}

const logger = createLogger({
  level: env.DZUG_LOG_LEVEL ?? "warn",
  service: "bench-per-request",
  instance: String(process.pid),
});
const app = createApp({
  user: perRequestClient("user", UserServiceDefinition),
  relation: perRequestClient("relation", RelationServiceDefinition),
  message: perRequestClient("message", MessageServiceDefinition),
  tokens: new TokenService(env.DZUG_AUTH_JWT_SECRET ?? "", 86_400),
  logger,
  metrics: createMetricsRegistry({ service: "bench-per-request", instance: String(process.pid) }),
  bodyLimitBytes: 65_536,
});
const server = createServer({ keepAliveTimeout: 65_000 }, app);
server.listen(Number(env.BENCH_PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  etcd.close();
  process.exit(0);
});
