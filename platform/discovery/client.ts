// The balanced client: a nice-grpc Client<Def> whose every unary call picks an instance from the
// pool, calls it with a deadline, and retries on another instance when that is safe. Server-streaming
// calls pick one instance per stream and retry only before the first message (stream-call.ts). When
// a failed attempt goes to another instance: call-rules.ts.
import { createRequire } from "node:module";
import {
  type CallOptions,
  type Client,
  ClientError,
  type ClientMiddleware,
  type CompatServiceDefinition,
  createClientFactory,
  type NormalizedServiceDefinition,
  Status,
} from "nice-grpc";
import type { Logger } from "pino";
import { runWithDeadline } from "../deadline.ts";
import { endAttempt } from "./balancing/attempt.ts";
import { type Balancer, createBalancer, type StrategyName } from "./balancing/balancer.ts";
import type { PoolEntry } from "./balancing/entry.ts";
import type { InstancePool } from "./balancing/pool.ts";
import { BUSINESS_CODES, type DeadlineCallOptions, deadlineAt, isRetryable } from "./call-rules.ts";
import type { DiscoveryMetrics } from "./metrics.ts";
import { waitForFirstList } from "./registry/first-list.ts";
import { balancedServerStream, type StreamClientContext } from "./stream-call.ts";
import { h2UnaryCall } from "./transport/h2-call.ts";
import { rawClient, type UnaryCallOptions, type UnaryMethod, unaryCall } from "./transport/unary-call.ts";

export interface ClientOptions {
  strategy?: StrategyName;
  maxAttempts?: number;
  deadlineMs?: number;
  /** nice-grpc client middleware applied to every per-instance client (e.g. OpenTelemetry). */
  middleware?: ClientMiddleware;
}

const require = createRequire(import.meta.url);
/**
 * nice-grpc's own normalisation of a ts-proto, grpc-js or nice-grpc definition into method key ->
 * MethodDefinition (path, streaming flags, idempotencyLevel), the keys its Client uses. It is in
 * nice-grpc's lib but not re-exported from its index, hence the path; tests/discovery/client.test.ts
 * checks it against the generated definitions.
 */
export const normalizeServiceDefinition: <Def extends CompatServiceDefinition>(
  definition: Def,
) => NormalizedServiceDefinition<Def> =
  require("nice-grpc/lib/service-definitions/index.js").normalizeServiceDefinition;

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
  opts: Required<Pick<ClientOptions, "strategy" | "maxAttempts" | "deadlineMs">> &
    Pick<ClientOptions, "middleware"> & {
      /** The client's balancer (its strategy's per-client state); one of `strategy` with defaults when absent. */
      balancer?: Balancer;
    },
): Client<Def, DeadlineCallOptions> {
  const balancer: Balancer = opts.balancer ?? createBalancer(opts.strategy);
  const factory = opts.middleware ? createClientFactory().use(opts.middleware) : createClientFactory();
  const { service, pool, metrics: m, logger } = ctx;
  // Without extra middleware (tracing off) calls take the flat path: request id and error details done
  // there, no nice-grpc middleware generators per RPC; over grpc-js (unary-call.ts) or, when the pool
  // keeps an HTTP/2 session per instance (discovery.transport http2), over node:http2 (h2-call.ts).
  const flat = opts.middleware === undefined;
  type FlatCall = (method: UnaryMethod, request: unknown, options: UnaryCallOptions) => Promise<unknown>;
  /** Per instance: its clients (durations are observed through entry.series, instance-series.ts). */
  interface PerInstance {
    client: Record<string, (...args: unknown[]) => unknown>;
    flat: FlatCall | undefined;
  }
  const flatCall = (e: PoolEntry): FlatCall | undefined => {
    if (!flat) return undefined;
    const session = e.session;
    if (session) return (m, r, o) => h2UnaryCall(session, m, r, o);
    const raw = rawClient(e.channel);
    return (m, r, o) => unaryCall(raw, m, r, o);
  };
  const perInstance = new WeakMap<PoolEntry, PerInstance>();
  const stateOf = (e: PoolEntry): PerInstance => {
    let c = perInstance.get(e);
    if (!c) {
      const client = factory.create(definition, e.channel) as unknown as PerInstance["client"];
      c = { client, flat: flatCall(e) };
      perInstance.set(e, c);
    }
    return c;
  };
  const clientFor = (e: PoolEntry) => stateOf(e).client;
  const log = logger.child({ component: "balanced-client", service });
  const out: Record<string, unknown> = {};
  /** Business answers (NOT_FOUND, ALREADY_EXISTS, …) are successful calls as far as balancing goes. */
  const countFailure = (methodName: string, lastError: unknown) => {
    if (!(lastError instanceof ClientError) || !BUSINESS_CODES.has(lastError.code)) {
      const code = lastError instanceof ClientError ? (Status[lastError.code] ?? String(lastError.code)) : "UNKNOWN";
      m.failures.inc({ service, method: methodName, code });
    }
  };
  let streams: StreamClientContext | undefined;

  for (const [key, method] of Object.entries(normalizeServiceDefinition(definition))) {
    const { path } = method;
    if (method.requestStream) {
      // Client and bidirectional streams would need a retry story of their own; no dzug RPC has one.
      throw new Error(`${path}: client-streaming methods are not supported by the balanced client`);
    }
    if (method.responseStream) {
      streams ??= {
        service,
        pool,
        metrics: m,
        log,
        balancer,
        maxAttempts: opts.maxAttempts,
        deadlineMs: opts.deadlineMs,
        middleware: opts.middleware,
        noInstance: (p) =>
          new ClientError(p, Status.UNAVAILABLE, `no live instance of service "${service}" ${ctx.describeEmpty()}`),
        countFailure,
      };
      out[key] = balancedServerStream(streams, definition, key, method);
      continue;
    }
    const methodName = path.slice(path.lastIndexOf("/") + 1);
    const idempotent = method.options.idempotencyLevel !== undefined; // NO_SIDE_EFFECTS or IDEMPOTENT
    const noInstance = () =>
      new ClientError(path, Status.UNAVAILABLE, `no live instance of service "${service}" ${ctx.describeEmpty()}`);

    out[key] = async (request: unknown, options: CallOptions & DeadlineCallOptions = {}) => {
      const { deadline, signal: callerSignal, ...rest } = options;
      const endBy = deadlineAt(deadline, opts.deadlineMs);
      const tried = new Set<string>();
      let lastError: unknown;
      for (let attempt = 1; attempt <= opts.maxAttempts; attempt++) {
        callerSignal?.throwIfAborted();
        // The one clock read of the attempt's start: the pick's `now` and the latency's origin.
        let started = performance.now();
        let entry = pool.pick(balancer, tried, started);
        // Empty before discovery's first list for want of an answer, not of instances: wait for it.
        const listed = entry || tried.size > 0 ? undefined : pool.firstList();
        if (listed && (await waitForFirstList(listed, endBy, callerSignal))) {
          started = performance.now();
          entry = pool.pick(balancer, tried, started);
        }
        if (!entry) break;
        tried.add(entry.record.id);
        if (attempt > 1) m.retries.inc({ service, method: methodName });
        const remaining = endBy - Date.now();
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
        let code = "OK";
        pool.acquire(entry);
        try {
          // The deadline goes as grpc-timeout: the flat path passes it to the call; nice-grpc calls get
          // it from the pool's deadline channels (platform/deadline.ts).
          const flatPath = stateOf(entry).flat;
          if (flatPath && !rest.onHeader && !rest.onTrailer)
            return await flatPath(method, request, {
              metadata: rest.metadata,
              signal: ctl.signal,
              deadline: endBy,
            });
          const call = clientFor(entry)[key] as (r: unknown, o: CallOptions) => Promise<unknown>;
          return await runWithDeadline(endBy, () => call(request, { ...rest, signal: ctl.signal }));
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
          endAttempt(pool, entry, methodName, code, started, true);
        }
      }
      if (lastError === undefined) lastError = noInstance();
      countFailure(methodName, lastError);
      throw lastError;
    };
  }
  return out as Client<Def, DeadlineCallOptions>;
}
