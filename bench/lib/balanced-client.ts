// dzug's balanced client (platform/discovery) over one fixed instance, without etcd: the pool is fed a
// one-record watcher stand-in, so bench/grpc-floor.ts can measure the client's own per-call cost
// (pick, deadline, metrics, request id, error details) next to bare grpc-js on the same server.
import { EventEmitter } from "node:events";
import type { ClientMiddleware } from "nice-grpc";
import pino from "pino";
import { Registry } from "prom-client";
import { InstancePool } from "../../platform/discovery/balancing/pool.ts";
import { createBalancedClient } from "../../platform/discovery/client.ts";
import { discoveryMetrics } from "../../platform/discovery/metrics.ts";
import type { ServiceWatcher } from "../../platform/discovery/registry/watcher.ts";
import type { TransportName } from "../../platform/discovery/transport/transport.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";

export function balancedUserClient(address: string, middleware?: ClientMiddleware, transport?: TransportName) {
  const record = {
    id: "user-bench",
    service: "user",
    address,
    version: "bench",
    weight: 1,
    zone: "",
    startedAt: new Date().toISOString(),
  };
  const watcher = Object.assign(new EventEmitter(), { instances: () => [record] }) as unknown as ServiceWatcher;
  const metrics = discoveryMetrics(new Registry());
  const logger = pino({ level: "warn" });
  const pool = new InstancePool({ service: "user", watcher, logger, metrics, transport });
  const client = createBalancedClient(
    { service: "user", pool, metrics, logger, describeEmpty: () => "" },
    UserServiceDefinition,
    { strategy: "random", maxAttempts: 3, deadlineMs: 3_000, middleware },
  );
  return { client, close: () => pool.close() };
}
