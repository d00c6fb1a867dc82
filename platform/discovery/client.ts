// The balanced client: a nice-grpc Client<Def> whose every unary call picks an instance from the
// pool, calls it with a deadline, and retries on another instance when that is safe.
//
// Retry rules (UNAVAILABLE only; every other status is the server's answer and is returned as is):
// - The call never reached a server: always retried. grpc-js strips its internal "progress" from
//   the status, so we tell from the details it sets on those paths (see NOT_SENT_DETAILS):
//   "No connection established" (pick failed: channel in TRANSIENT_FAILURE, e.g. ECONNREFUSED),
//   "Stream refused by server" (HTTP/2 REFUSED_STREAM, e.g. GOAWAY during a server's shutdown),
//   "Channel closed before call started".
// - Otherwise (e.g. "Connection dropped" after the request was written): retried only when the
//   method's idempotencyLevel is NO_SIDE_EFFECTS or IDEMPOTENT.
// A retry goes to an instance not tried yet for this call; when none is left, the last error is thrown.
import type { ClientMiddleware } from "nice-grpc";
import {
  type CallOptions,
  type Client,
  ClientError,
  type CompatServiceDefinition,
  createClientFactory,
  Status,
} from "nice-grpc";
import type { Logger } from "pino";
import { type Balancer, createBalancer, type StrategyName } from "./balancer.ts";
import type { DiscoveryMetrics } from "./metrics.ts";
import type { InstancePool, PoolEntry } from "./pool.ts";

export interface ClientOptions {
  strategy?: StrategyName;
  maxAttempts?: number;
  deadlineMs?: number;
  /** nice-grpc client middleware applied to every per-instance client (e.g. OpenTelemetry). */
  middleware?: ClientMiddleware;
}

/** Per-call extra option: an absolute deadline (Date or epoch ms), on top of the client's deadlineMs. */
export interface DeadlineCallOptions {
  deadline?: Date | number;
}

export const NOT_SENT_DETAILS = [
  "No connection established",
  "Stream refused by server",
  "Channel closed before call started",
] as const;

/** True when an error says the call never reached a server, so any method may be retried. */
/** Status codes that carry a server's business answer, not a failure to reach or run the call. */
const BUSINESS_CODES: ReadonlySet<Status> = new Set([
  Status.INVALID_ARGUMENT,
  Status.NOT_FOUND,
  Status.ALREADY_EXISTS,
  Status.PERMISSION_DENIED,
  Status.FAILED_PRECONDITION,
  Status.OUT_OF_RANGE,
  Status.UNAUTHENTICATED,
]);

export function failedBeforeServer(err: ClientError): boolean {
  return err.code === Status.UNAVAILABLE && NOT_SENT_DETAILS.some((d) => err.details.includes(d));
}

export function isRetryable(err: unknown, idempotent: boolean): boolean {
  if (!(err instanceof ClientError) || err.code !== Status.UNAVAILABLE) return false;
  return idempotent || failedBeforeServer(err);
}

interface MethodInfo {
  key: string;
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  idempotencyLevel: string | undefined;
}

/** The methods of a ts-proto, grpc-js or nice-grpc definition, as nice-grpc keys them on a Client. */
export function describeMethods(definition: CompatServiceDefinition): MethodInfo[] {
  const d = definition as Record<string, unknown>;
  if (typeof d.fullName === "string" && typeof d.methods === "object" && d.methods !== null) {
    return Object.entries(
      d.methods as Record<
        string,
        { name: string; requestStream: boolean; responseStream: boolean; options?: { idempotencyLevel?: string } }
      >,
    ).map(([key, m]) => ({
      key,
      path: `/${d.fullName}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      idempotencyLevel: m.options?.idempotencyLevel,
    }));
  }
  return Object.entries(
    d as Record<
      string,
      { path: string; requestStream: boolean; responseStream: boolean; options?: { idempotencyLevel?: string } }
    >,
  ).map(([key, m]) => ({
    key,
    path: m.path,
    requestStream: m.requestStream,
    responseStream: m.responseStream,
    idempotencyLevel: m.options?.idempotencyLevel,
  }));
}

export interface BalancedClientContext {
  service: string;
  pool: InstancePool;
  metrics: DiscoveryMetrics;
  logger: Logger;
  /** Why there may be no instance, for the fail-fast message. */
  describeEmpty: () => string;
}

export function createBalancedClient<Def extends CompatServiceDefinition>(
  ctx: BalancedClientContext,
  definition: Def,
  opts: Required<Pick<ClientOptions, "strategy" | "maxAttempts" | "deadlineMs">> & Pick<ClientOptions, "middleware">,
): Client<Def, DeadlineCallOptions> {
  const balancer: Balancer = createBalancer(opts.strategy);
  const factory = opts.middleware ? createClientFactory().use(opts.middleware) : createClientFactory();
  const perInstance = new WeakMap<PoolEntry, Record<string, (...args: unknown[]) => unknown>>();
  const clientFor = (e: PoolEntry) => {
    let c = perInstance.get(e);
    if (!c) {
      c = factory.create(definition, e.channel) as unknown as Record<string, (...args: unknown[]) => unknown>;
      perInstance.set(e, c);
    }
    return c;
  };
  const { service, pool, metrics: m, logger } = ctx;
  const log = logger.child({ component: "balanced-client", service });
  const out: Record<string, unknown> = {};

  for (const method of describeMethods(definition)) {
    const { key, path } = method;
    const methodName = path.slice(path.lastIndexOf("/") + 1);
    const idempotent = method.idempotencyLevel === "NO_SIDE_EFFECTS" || method.idempotencyLevel === "IDEMPOTENT";
    const noInstance = () =>
      new ClientError(path, Status.UNAVAILABLE, `no live instance of service "${service}" ${ctx.describeEmpty()}`);

    if (method.requestStream || method.responseStream) {
      // Streaming: routed to one picked instance, no retries.
      out[key] = (request: unknown, options?: CallOptions) => {
        const e = pool.pick(balancer, new Set());
        if (!e) throw noInstance();
        return clientFor(e)[key]?.(request, options);
      };
      continue;
    }

    out[key] = async (request: unknown, options: CallOptions & DeadlineCallOptions = {}) => {
      const { deadline, signal: callerSignal, ...rest } = options;
      let deadlineAt = Date.now() + opts.deadlineMs;
      if (deadline !== undefined)
        deadlineAt = Math.min(deadlineAt, deadline instanceof Date ? deadline.getTime() : deadline);
      const tried = new Set<string>();
      let lastError: unknown;
      for (let attempt = 1; attempt <= opts.maxAttempts; attempt++) {
        callerSignal?.throwIfAborted();
        const entry = pool.pick(balancer, tried);
        if (!entry) break;
        tried.add(entry.record.id);
        if (attempt > 1) m.retries.inc({ service, method: methodName });
        const remaining = deadlineAt - Date.now();
        if (remaining <= 0) {
          lastError = new ClientError(path, Status.DEADLINE_EXCEEDED, `deadline exceeded before attempt ${attempt}`);
          break;
        }
        const ctl = new AbortController();
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          ctl.abort();
        }, remaining);
        const onCallerAbort = () => ctl.abort(callerSignal?.reason);
        callerSignal?.addEventListener("abort", onCallerAbort, { once: true });
        const started = performance.now();
        let code = "OK";
        pool.acquire(entry);
        try {
          return await (clientFor(entry)[key] as (r: unknown, o: CallOptions) => Promise<unknown>)(request, {
            ...rest,
            signal: ctl.signal,
          });
        } catch (err) {
          if (timedOut) {
            code = "DEADLINE_EXCEEDED";
            lastError = new ClientError(
              path,
              Status.DEADLINE_EXCEEDED,
              `deadline of ${opts.deadlineMs} ms exceeded (instance ${entry.record.id}, attempt ${attempt})`,
            );
            break;
          }
          if (!(err instanceof ClientError)) {
            code = callerSignal?.aborted ? "CANCELLED" : "UNKNOWN";
            if (callerSignal?.aborted) throw err; // the caller gave up: not a failure of ours to count
            lastError = err;
            break;
          }
          code = Status[err.code] ?? String(err.code);
          lastError = err;
          if (!isRetryable(err, idempotent)) break;
          log.debug(
            { instance: entry.record.id, attempt, code, details: err.details },
            "attempt failed; retrying on another instance",
          );
        } finally {
          clearTimeout(timer);
          callerSignal?.removeEventListener("abort", onCallerAbort);
          pool.release(entry);
          m.clientDuration.observe(
            { service, method: methodName, instance: entry.record.id, code },
            (performance.now() - started) / 1000,
          );
        }
      }
      if (lastError === undefined) lastError = noInstance();
      // Business answers (NOT_FOUND, ALREADY_EXISTS, …) are successful calls as far as balancing goes.
      if (!(lastError instanceof ClientError) || !BUSINESS_CODES.has(lastError.code)) {
        const code = lastError instanceof ClientError ? (Status[lastError.code] ?? String(lastError.code)) : "UNKNOWN";
        m.failures.inc({ service, method: methodName, code });
      }
      throw lastError;
    };
  }
  return out as Client<Def, DeadlineCallOptions>;
}
