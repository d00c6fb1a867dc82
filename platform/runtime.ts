// What every dzug process starts with, service or gateway: identity, logger, metrics registry,
// tracing, the etcd client and discovery (balanced clients of the services). `close()` undoes it.
import type { Etcd3 } from "etcd3";
import { type ClientMiddleware, composeClientMiddleware } from "nice-grpc";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { openTelemetryClientMiddleware } from "nice-grpc-opentelemetry";
import type { Registry } from "prom-client";
import pkg from "../package.json" with { type: "json" };
import { ConfigError } from "./config.ts";
import type { ServiceBaseConfig } from "./config-schema.ts";
import { createEtcdClient, Discovery, etcdClientOptions, newInstanceId } from "./discovery/index.ts";
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
  const etcd = createEtcdClient(etcdClientOptions(config.etcd.endpoints, config.etcd.dialTimeoutMs, config.etcd));
  const { ejection, ewmaDecayMs, forcePickMs, leastRequestBias, slowStart, zone, ...balancerDefaults } =
    config.balancer;
  // The http2 transport is the flat path's; with tracing on, calls go through nice-grpc and grpc-js.
  const transport = tracing.enabled ? "grpc-js" : config.discovery.transport;
  if (transport !== config.discovery.transport) {
    logger.info("discovery.transport http2 applies with tracing off; calls go through grpc-js while tracing is on");
  }
  const discovery = new Discovery({
    etcd,
    prefix: config.discovery.prefix,
    logger,
    metrics,
    // Tracing off: no middleware, so balanced clients take their flat path, which sends the request id
    // and decodes error details itself (platform/discovery/transport/unary-call.ts).
    defaults: { ...balancerDefaults, middleware: tracing.enabled ? defaultClientMiddleware(true) : undefined },
    ejection,
    transport,
    balancing: {
      decayMs: ewmaDecayMs,
      forcePickMs,
      leastRequestBias,
      slowStart,
      zone: { ...zone, zone: config.discovery.zone },
    },
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

// --- process lifecycle, the same for services and the gateway

/** Resolves after `ms`; never keeps the process alive by itself. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** `fn` run once; later calls get the same promise (a second SIGTERM or a test's stop()). */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= fn();
    return running;
  };
}

/** Waits for `drained` at most `timeoutMs`: true when it settled in time, false when the wait ran out. */
export function drainWithin(drained: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  return Promise.race([drained.then(() => true), delay(timeoutMs).then(() => false)]);
}

/**
 * Runs a process' main: exits 1 with a readable message when the config is bad or start-up fails,
 * and stops gracefully (exit 0) on SIGTERM/SIGINT.
 */
export async function runMain(
  name: string,
  start: () => Promise<{ logger: Logger; stop(): Promise<void> }>,
): Promise<void> {
  let running: Awaited<ReturnType<typeof start>>;
  try {
    running = await start();
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`${name}: ${err.message}\n`);
    else process.stderr.write(`${name}: start-up failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  }
  exitOnSignals(running.logger, () => running.stop());
  exitOnUnexpected(running.logger, () => running.stop());
}

/** How long a process that hit an unexpected error may spend deregistering and closing before exit 1. */
export const UNEXPECTED_ERROR_STOP_BOUND_MS = 5_000;

/**
 * An uncaught exception or unhandled rejection means state nobody planned for: log it (pino, fatal),
 * stop as a signal would (a service revokes its lease first, so callers drop it at once; then drains
 * and closes), but exit 1 within UNEXPECTED_ERROR_STOP_BOUND_MS whatever stop() does. Without this
 * Node prints a stack to stderr and dies mid-flight, leaving its registration to expire by TTL.
 */
export function exitOnUnexpected(
  logger: Logger,
  stop: () => Promise<void>,
  boundMs = UNEXPECTED_ERROR_STOP_BOUND_MS,
): void {
  let failing = false;
  const fail = (kind: string, err: unknown) => {
    logger.fatal({ err, kind }, `${kind}: stopping (exit 1)`);
    if (failing) return;
    failing = true;
    process.exitCode = 1;
    const exit = () => {
      logger.flush();
      process.exit(1);
    };
    setTimeout(() => {
      logger.error({ boundMs }, "stop did not finish in time after an unexpected error");
      exit();
    }, boundMs);
    stop().then(exit, (stopErr) => {
      logger.error({ err: stopErr }, "stop failed after an unexpected error");
      exit();
    });
  };
  process.on("uncaughtException", (err) => fail("uncaughtException", err));
  process.on("unhandledRejection", (reason) => fail("unhandledRejection", reason));
}

/** SIGTERM/SIGINT -> graceful stop -> exit 0; a second signal exits at once. */
export function exitOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, "signal received");
    stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
