// The bootstrap every gRPC service shares: config, logger, metrics, tracing, gRPC server with health,
// admin listener, etcd registration and graceful shutdown. A service supplies its handlers in `setup`.
import type { CompatServiceDefinition, ServiceImplementation } from "nice-grpc";
import { openTelemetryServerMiddleware } from "nice-grpc-opentelemetry";
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health";
import type { Registry } from "prom-client";
import type { z } from "zod";
import { type AdminServer, startAdminServer } from "./admin-server.ts";
import { loadConfig } from "./config.ts";
import type { DatabaseConfig, ServiceBaseConfig } from "./config-schema.ts";
import { type Discovery, Registrar } from "./discovery/index.ts";
import { joinHostPort, unbracket } from "./discovery/registry/address.ts";
import { ReadyRegistration } from "./discovery/registry/ready-registration.ts";
import { createServiceServer } from "./grpc-server.ts";
import { bindHost } from "./listen.ts";
import type { Logger } from "./logger.ts";
import { LoadShedder } from "./overload.ts";
import { delay, drainWithin, once, runMain, startRuntime, VERSION } from "./runtime.ts";

export { defaultClientMiddleware } from "./runtime.ts";

import { serverCalls } from "./server-call.ts";
import type { Database } from "./storage/index.ts";
import { type ServiceDatabaseSpec, ServiceDatabases } from "./storage/service-database.ts";

/** gRPC health service name that answers SERVING while the process is alive (Kubernetes liveness). */
export const LIVENESS_SERVICE = "liveness";

export interface ServiceContext<C> {
  readonly config: C;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly instanceId: string;
  /** Balanced clients of other services, through etcd discovery. */
  readonly discovery: Discovery;
  /**
   * Opens the service's database from `config.database` (with every timeout there), applies the
   * migrations, follows it for readiness (a failing ping takes the instance out of rotation) and
   * closes it at shutdown, after the service's own `close`.
   */
  openDatabase<DB>(spec: ServiceDatabaseSpec): Promise<Database<DB>>;
}

export interface ServiceBinding {
  definition: CompatServiceDefinition;
  implementation: ServiceImplementation<any>;
}

export interface ServiceSetup {
  services: ServiceBinding[];
  /** Why the service cannot serve yet (a dependency down), or undefined; its database is followed already. */
  notReadyReason?: () => string | undefined;
  close?: () => Promise<void>;
}

export interface ServiceSpec<S extends z.ZodObject> {
  /** Short name used in etcd keys and metrics: `user`, `relation`. */
  name: string;
  configSchema: S;
  setup(ctx: ServiceContext<z.infer<S>>): Promise<ServiceSetup>;
}

export interface RunningService {
  readonly instanceId: string;
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly logger: Logger;
  /** Graceful stop: revoke the lease, keep serving briefly, drain in-flight calls, close everything. */
  stop(): Promise<void>;
}

export async function startService<S extends z.ZodObject>(
  spec: ServiceSpec<S>,
  env: Record<string, string | undefined> = process.env,
): Promise<RunningService> {
  const { config, unknownEnv } = loadConfig(spec.configSchema, env);
  const base = config as unknown as ServiceBaseConfig;
  const runtime = startRuntime({ name: spec.name, config: base, unknownEnv, env });
  const { instanceId, logger, metrics, discovery } = runtime;

  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, "cleanup step failed");
      }
    }
    cleanups.length = 0;
  };
  cleanups.push(() => runtime.close());
  const databases = new ServiceDatabases((config as { database?: DatabaseConfig }).database, logger);
  cleanups.push(() => databases.close());
  const openDatabase = <DB>(s: ServiceDatabaseSpec) => databases.open<DB>(s);

  let setup: ServiceSetup;
  try {
    setup = await spec.setup({ config, logger, metrics, instanceId, discovery, openDatabase });
  } catch (err) {
    await cleanup();
    throw err;
  }
  if (setup.close) cleanups.push(setup.close);

  const health = HealthState();
  const shedder = new LoadShedder(base.overload, metrics);
  cleanups.push(async () => shedder.close());
  // Request id, deadline, metrics, error mapping and details in one place (platform/server-call.ts);
  // unary calls served on grpc-js directly unless tracing is on (platform/grpc-server.ts). Spans only
  // when tracing is on: the middleware costs ~1-2 % of a call even with a no-op tracer.
  const server = createServiceServer({
    ...serverCalls({ registry: metrics, service: spec.name, logger, shedder }),
    tracing: runtime.tracing.enabled ? openTelemetryServerMiddleware() : undefined,
  });
  for (const s of setup.services) server.add(s.definition, s.implementation);
  server.add(HealthDefinition, HealthServiceImpl(health));
  const serviceNames = setup.services.map((s) => (s.definition as { fullName?: string }).fullName ?? "");

  const dependencyDown = () => databases.notReadyReason() ?? setup.notReadyReason?.();
  let draining = false;
  let registrar: ReadyRegistration | undefined;
  let admin: AdminServer | undefined;
  try {
    const grpcPort = await bindHost(
      base.grpc.host,
      (host) => server.listen(joinHostPort(host, base.grpc.port)),
      (err) => logger.warn({ err }, "no IPv6 on this host: serving gRPC on 0.0.0.0 (IPv4) instead of ::"),
    );
    cleanups.push(async () => server.forceShutdown());
    // The cause first: an instance whose database is gone also leaves etcd (ReadyRegistration), and
    // "not registered" would then hide why.
    const notReadyReason = () => {
      if (draining) return "shutting down";
      const dependency = dependencyDown();
      if (dependency !== undefined) return dependency;
      if (!registrar?.registered) return "not registered in etcd";
      return undefined;
    };
    admin = await startAdminServer({
      host: unbracket(base.grpc.host),
      port: base.admin.port,
      registry: metrics,
      notReadyReason,
    });
    const adminServer = admin;
    cleanups.push(() => adminServer.close());
    // gRPC health: "liveness" is SERVING while the process runs (liveness probes); "" and each service
    // name follow readiness (registered, dependencies up, not draining), like /readyz.
    health.setStatus("healthy", LIVENESS_SERVICE);
    const syncHealth = () => {
      if (!draining) registrar?.follow(dependencyDown());
      const status = notReadyReason() === undefined ? "healthy" : "unhealthy";
      for (const name of ["", ...serviceNames]) if (health.getStatus(name) !== status) health.setStatus(status, name);
    };
    syncHealth();
    const healthTimer = setInterval(syncHealth, 1_000);
    healthTimer.unref();
    cleanups.push(async () => clearInterval(healthTimer));

    // An IPv6 pod IP (the chart's downward API) comes bare: the record brackets it (address.ts).
    const address = joinHostPort(base.discovery.advertiseHost, grpcPort);
    const record = {
      id: instanceId,
      service: spec.name,
      address,
      version: VERSION,
      weight: base.discovery.weight,
      zone: base.discovery.zone,
      startedAt: new Date().toISOString(),
    };
    const makeRegistrar = () =>
      new Registrar({
        etcd: runtime.etcd,
        prefix: base.discovery.prefix,
        ttlSeconds: base.discovery.leaseTtlSeconds,
        logger,
        metrics,
        record,
      });
    // Out of etcd while not ready (database down), back when ready: callers balance client-side.
    registrar = new ReadyRegistration(makeRegistrar, logger);
    // Registration retries forever in the background; start() resolves at the first success.
    registrar.start().then(syncHealth, (err) => logger.error({ err }, "registration stopped"));
    const reg = registrar;
    logger.info({ grpcPort, adminPort: admin.port, address }, "service started");

    const stop = once(async () => {
      draining = true;
      for (const name of ["", ...serviceNames]) health.setStatus("unhealthy", name);
      logger.info("shutting down: revoking registration");
      await reg.stop().catch((err) => logger.warn({ err }, "lease revoke failed; it will expire by TTL"));
      // Keep serving while callers' watches drop this instance, then drain what is in flight.
      await delay(base.shutdown.propagationDelayMs);
      if (!(await drainWithin(server.shutdown(), base.shutdown.drainTimeoutMs)))
        logger.warn({ drainTimeoutMs: base.shutdown.drainTimeoutMs }, "drain timed out; cancelling calls");
      await cleanup();
      logger.info("stopped");
      logger.flush();
    });
    return { instanceId, grpcPort, adminPort: admin.port, logger, stop };
  } catch (err) {
    await registrar?.stop().catch(() => {});
    await cleanup();
    throw err;
  }
}

/** Runs a service as the main of a process (platform/runtime.ts' runMain). */
export function runServiceMain<S extends z.ZodObject>(spec: ServiceSpec<S>): Promise<void> {
  return runMain(spec.name, () => startService(spec));
}
