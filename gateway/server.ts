// The gateway process: config, logger, metrics, tracing, etcd discovery, balanced clients, the API
// listener (http.port) and the admin listener (admin.port: /metrics, /readyz, status page), and a
// graceful stop (readiness off, keep serving for the propagation delay, stop accepting, drain
// in-flight requests bounded by shutdown.drainTimeoutMs, close the admin listener, discovery and etcd).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { TokenService } from "../platform/auth.ts";
import { loadConfig } from "../platform/config.ts";
import { trustProxySetting } from "../platform/config-schema.ts";
import { listenOn } from "../platform/listen.ts";
import type { Logger } from "../platform/logger.ts";
import { LoadShedder } from "../platform/overload.ts";
import { delay, drainWithin, once, runMain, startRuntime } from "../platform/runtime.ts";
import { createAdminApp } from "./admin.ts";
import { createApp } from "./app.ts";
import { gatewayConfigSchema } from "./config.ts";
import { DeviceTokens } from "./device.ts";
import { StatusCode } from "./errors.ts";
import { RateLimits } from "./rate-limit.ts";
import { CachingTokenVerifier } from "./token-cache.ts";
import { UPSTREAM_NAMES, UPSTREAMS, type UpstreamName, type Upstreams } from "./upstreams.ts";

/** Bounded header/request times: a slow client cannot hold a connection forever. */
const HTTP_TIMEOUTS = { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 65_000 } as const;

export interface RunningGateway {
  /** The API port. */
  readonly port: number;
  /** The admin port (operations endpoints). */
  readonly adminPort: number;
  readonly instanceId: string;
  readonly logger: Logger;
  /** Graceful stop; idempotent. */
  stop(): Promise<void>;
}

export async function startGateway(env: Record<string, string | undefined> = process.env): Promise<RunningGateway> {
  const { config, unknownEnv } = loadConfig(gatewayConfigSchema, env);
  const runtime = startRuntime({ name: "gateway", config, unknownEnv, env });
  const { instanceId, logger, metrics, tracing, discovery } = runtime;
  const closeDeps = () => runtime.close();

  // Clients (and their watchers) exist from the start: one channel per instance, made by discovery
  // as instances appear, never per request.
  const strategyOf = (svc: UpstreamName) => config.services[svc].strategy ?? config.balancer.strategy;
  const clients = Object.fromEntries(
    UPSTREAM_NAMES.map((svc) => [svc, discovery.client(svc, UPSTREAMS[svc], { strategy: strategyOf(svc) })]),
  ) as Upstreams;

  let shuttingDown = false;
  const shedder = new LoadShedder(config.overload, metrics);
  const app = createApp({
    ...clients,
    // Verified tokens are remembered until their exp: the HS256 check was ~20 % of the CPU per request.
    tokens: new CachingTokenVerifier(new TokenService(config.auth.jwtSecret, config.auth.tokenTtlSeconds)),
    logger,
    metrics,
    bodyLimitBytes: config.http.bodyLimitBytes,
    shuttingDown: () => shuttingDown,
    tracing: tracing.enabled,
    rateLimits: new RateLimits(config.rateLimit, metrics),
    devices: new DeviceTokens(config.auth.jwtSecret),
    shedder,
    credentialsInFlightPerAddress: config.rateLimit.credentialsInFlightPerAddress,
    credentialsInFlight: config.rateLimit.credentialsInFlight,
    trustProxy: trustProxySetting(config.http.trustProxy, config.http.trustProxyHops),
    maxConcurrentListStreams: config.lists.maxConcurrentStreams,
  });

  const server: Server = createServer(HTTP_TIMEOUTS, app);
  const admin: Server = createServer(
    HTTP_TIMEOUTS,
    createAdminApp({ discovery, metrics, logger, required: UPSTREAM_NAMES, shuttingDown: () => shuttingDown }),
  );
  try {
    const ipv4Only = (err: unknown) =>
      logger.warn({ err }, "no IPv6 on this host: listening on 0.0.0.0 (IPv4) instead of ::");
    await listenOn(server, config.http.port, config.http.host, ipv4Only);
    await listenOn(admin, config.admin.port, config.http.host).catch(async (err) => {
      await new Promise((resolve) => server.close(resolve));
      throw err;
    });
  } catch (err) {
    await closeDeps();
    throw err;
  }
  server.on("error", (err) => logger.error({ err }, "http server error"));
  admin.on("error", (err) => logger.error({ err }, "admin server error"));
  // Requests Node's HTTP parser rejects never reach Express: answer them in JSON too.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const [status, text, code] =
      err.code === "HPE_HEADER_OVERFLOW"
        ? [431, "Request Header Fields Too Large", StatusCode.HEADERS_TOO_LARGE]
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? [408, "Request Timeout", StatusCode.REQUEST_TIMEOUT]
          : [400, "Bad Request", StatusCode.BAD_HTTP];
    const body = JSON.stringify({ status_code: code, status_msg: text.toLowerCase() });
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  const port = (server.address() as AddressInfo).port;
  const adminPort = (admin.address() as AddressInfo).port;
  logger.info(
    {
      port,
      adminPort,
      host: config.http.host,
      prefix: config.discovery.prefix,
      strategies: Object.fromEntries(UPSTREAM_NAMES.map((svc) => [svc, strategyOf(svc)])),
      tracing: tracing.enabled,
    },
    "gateway started",
  );

  const stop = once(async () => {
    shuttingDown = true;
    logger.info({ propagationDelayMs: config.shutdown.propagationDelayMs }, "shutting down: readiness off");
    // Let load balancers see /readyz 503 (admin port) and stop sending before we stop accepting.
    await delay(config.shutdown.propagationDelayMs);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (!(await drainWithin(closed, config.shutdown.drainTimeoutMs))) {
      logger.warn({ drainTimeoutMs: config.shutdown.drainTimeoutMs }, "drain timed out; closing open connections");
      server.closeAllConnections();
      await closed;
    }
    // The admin port answered (/readyz 503, /metrics) through the drain; probes and scrapes hold no work.
    const adminClosed = new Promise<void>((resolve) => admin.close(() => resolve()));
    admin.closeAllConnections();
    await adminClosed;
    await closeDeps();
    logger.info("stopped");
    logger.flush();
  });
  return { port, adminPort, instanceId, logger, stop };
}

/** `node gateway/main.ts` (platform/runtime.ts' runMain). */
export function runGatewayMain(): Promise<void> {
  return runMain("gateway", () => startGateway());
}
