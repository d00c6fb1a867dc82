// What every dzug process starts with, service or gateway: identity, logger, metrics registry,
// tracing, the etcd client and discovery (balanced clients of the services). `close()` undoes it.
import { Etcd3 } from "etcd3";
import { type ClientMiddleware, composeClientMiddleware } from "nice-grpc";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { openTelemetryClientMiddleware } from "nice-grpc-opentelemetry";
import type { Registry } from "prom-client";
import pkg from "../package.json" with { type: "json" };
import type { ServiceBaseConfig } from "./config-schema.ts";
import { Discovery, etcdClientOptions, newInstanceId } from "./discovery/index.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createMetricsRegistry } from "./metrics.ts";
import { requestIdClientMiddleware } from "./request-context.ts";
import { startTracing, type Tracing } from "./tracing.ts";

export const VERSION: string = pkg.version;

export interface ProcessRuntime {
  readonly name: string;
  readonly instanceId: string;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly tracing: Tracing;
  readonly etcd: Etcd3;
  readonly discovery: Discovery;
  /** Closes discovery, etcd and tracing; never throws. */
  close(): Promise<void>;
}

/** Client middleware for calls to other services: request id, rich error details, spans when tracing is on. */
export function defaultClientMiddleware(tracing = true): ClientMiddleware {
  const base = composeClientMiddleware(requestIdClientMiddleware(), errorDetailsClientMiddleware);
  return tracing ? composeClientMiddleware(openTelemetryClientMiddleware(), base) : base;
}

export function startRuntime(opts: {
  name: string;
  config: Pick<ServiceBaseConfig, "log" | "etcd" | "discovery" | "balancer">;
  unknownEnv: readonly string[];
  env: Record<string, string | undefined>;
}): ProcessRuntime {
  const { name, config } = opts;
  const instanceId = newInstanceId(name);
  const logger = createLogger({ level: config.log.level, service: name, instance: instanceId });
  if (opts.unknownEnv.length > 0) {
    logger.warn({ unknownEnv: opts.unknownEnv }, "ignoring DZUG_* variables that name no configuration key");
  }
  const tracing = startTracing({ service: name, version: VERSION, instance: instanceId }, opts.env);
  const metrics = createMetricsRegistry({ service: name, instance: instanceId });
  const etcd = new Etcd3(etcdClientOptions(config.etcd.endpoints, config.etcd.dialTimeoutMs));
  const discovery = new Discovery({
    etcd,
    prefix: config.discovery.prefix,
    logger,
    metrics,
    defaults: { ...config.balancer, middleware: defaultClientMiddleware(tracing.enabled) },
  });
  const attempt = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      logger.warn({ err }, `${what} failed`);
    }
  };
  return {
    name,
    instanceId,
    logger,
    metrics,
    tracing,
    etcd,
    discovery,
    close: async () => {
      await attempt("discovery close", () => discovery.close());
      await attempt("etcd close", () => etcd.close());
      await attempt("tracing shutdown", () => tracing.shutdown());
    },
  };
}
