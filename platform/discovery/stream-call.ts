// The balanced client's server-streaming calls: one instance per stream, picked as a unary call's is;
// retried on another instance only before the first message arrived (the unary call's rules: a call
// that never reached a server, or UNAVAILABLE on a NO_SIDE_EFFECTS/IDEMPOTENT method); after it the
// caller has acted on part of the answer, so the error is thrown as is.
//
// Time: a stream has no deadline of its own (a list of a million entries takes longer than any unary
// deadline); the caller's `deadline` or the inherited one (platform/deadline.ts) still applies. What
// bounds a stuck server is the idle limit: each message must arrive within the client's deadlineMs of
// the caller asking for it (time the caller spends between messages is not counted).
//
// Transports: the http2 transport's session (h2-stream.ts) when the pool keeps one and no extra client
// middleware is set; otherwise nice-grpc's client over grpc-js, with the rich error details decoded
// and the request id sent as the flat path does.
import {
  type CallOptions,
  ClientError,
  type ClientMiddleware,
  type CompatServiceDefinition,
  createClientFactory,
  Metadata,
  type MethodDefinition,
  Status,
} from "nice-grpc";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import type { Logger } from "pino";
import { currentRequestId, REQUEST_ID_HEADER } from "../request-context.ts";
import { endAttempt } from "./balancing/attempt.ts";
import type { Balancer } from "./balancing/balancer.ts";
import type { PoolEntry } from "./balancing/entry.ts";
import type { InstancePool } from "./balancing/pool.ts";
import { deadlineAt, isRetryable } from "./call-rules.ts";
import type { DiscoveryMetrics } from "./metrics.ts";
import { waitForFirstList } from "./registry/first-list.ts";
import { h2ServerStream, type StreamCallOptions } from "./transport/h2-stream.ts";

export interface StreamClientContext {
  service: string;
  pool: InstancePool;
  metrics: DiscoveryMetrics;
  log: Logger;
  balancer: Balancer;
  maxAttempts: number;
  /** The idle limit: the longest wait for one message. */
  deadlineMs: number;
  /** Client middleware (tracing); when set, every stream goes through nice-grpc with it. */
  middleware: ClientMiddleware | undefined;
  noInstance: (path: string) => ClientError;
  /** Counts a failed call (not business answers) as the unary path does. */
  countFailure: (methodName: string, err: unknown) => void;
}

type Open = (entry: PoolEntry, request: unknown, options: StreamCallOptions) => AsyncIterable<unknown>;

/** How a stream reaches `entry` (see the header). */
function opener<Def extends CompatServiceDefinition>(
  ctx: StreamClientContext,
  definition: Def,
  key: string,
  method: MethodDefinition<any, any, any, any>,
): Open {
  const factory = ctx.middleware
    ? createClientFactory().use(ctx.middleware)
    : createClientFactory().use(errorDetailsClientMiddleware);
  const clients = new WeakMap<PoolEntry, Record<string, (r: unknown, o: CallOptions) => AsyncIterable<unknown>>>();
  return (entry, request, options) => {
    const session = entry.session;
    const unaryShape = {
      path: method.path,
      requestSerialize: method.requestSerialize,
      responseDeserialize: method.responseDeserialize,
    };
    if (session && !ctx.middleware) return h2ServerStream(session, unaryShape, request, options);
    let client = clients.get(entry);
    if (!client) {
      client = factory.create(definition, entry.channel) as unknown as NonNullable<typeof client>;
      clients.set(entry, client);
    }
    const metadata = Metadata(options.metadata);
    const id = currentRequestId();
    if (!metadata.has(REQUEST_ID_HEADER) && id !== undefined) metadata.set(REQUEST_ID_HEADER, id);
    return (client[key] as NonNullable<(typeof client)[string]>)(request, { metadata, signal: options.signal });
  };
}

export function balancedServerStream<Def extends CompatServiceDefinition>(
  ctx: StreamClientContext,
  definition: Def,
  key: string,
  method: MethodDefinition<any, any, any, any>,
) {
  const { path } = method;
  const methodName = path.slice(path.lastIndexOf("/") + 1);
  const idempotent = method.options.idempotencyLevel !== undefined;
  const open = opener(ctx, definition, key, method);
  const { service, pool, metrics: m, log } = ctx;

  return (request: unknown, options: CallOptions & { deadline?: Date | number } = {}): AsyncIterable<unknown> =>
    (async function* () {
      const { deadline, signal: callerSignal, metadata } = options;
      const at = deadlineAt(deadline, Number.POSITIVE_INFINITY);
      const endBy = Number.isFinite(at) ? at : undefined;
      const tried = new Set<string>();
      let lastError: unknown;
      for (let attempt = 1; attempt <= ctx.maxAttempts; attempt++) {
        callerSignal?.throwIfAborted();
        let entry = pool.pick(ctx.balancer, tried, performance.now());
        // Before discovery's first list: wait for it, as a unary call does (first-list.ts), up to the
        // idle limit (or the caller's deadline when sooner).
        const listed = entry || tried.size > 0 ? undefined : pool.firstList();
        const waitUntil = Math.min(endBy ?? Number.POSITIVE_INFINITY, Date.now() + ctx.deadlineMs);
        if (listed && (await waitForFirstList(listed, waitUntil, callerSignal))) {
          entry = pool.pick(ctx.balancer, tried, performance.now());
        }
        if (!entry) break;
        tried.add(entry.record.id);
        if (attempt > 1) m.retries.inc({ service, method: methodName });
        const ctl = new AbortController();
        let timedOut: string | undefined;
        const expire = (why: string) => () => {
          timedOut ??= why;
          ctl.abort();
        };
        const overall = endBy === undefined ? undefined : setTimeout(expire("deadline exceeded"), endBy - Date.now());
        const onCallerAbort = () => ctl.abort(callerSignal?.reason);
        callerSignal?.addEventListener("abort", onCallerAbort, { once: true });
        const started = performance.now();
        let code = "CANCELLED"; // until the stream ends or fails: the caller stopped reading
        let received = 0;
        pool.acquire(entry);
        try {
          const it = open(entry, request, { metadata, signal: ctl.signal, deadline: endBy })[Symbol.asyncIterator]();
          try {
            for (;;) {
              const idle = setTimeout(expire(`no message within ${ctx.deadlineMs} ms`), ctx.deadlineMs);
              let r: IteratorResult<unknown>;
              try {
                r = await it.next();
              } finally {
                clearTimeout(idle);
              }
              if (r.done) {
                code = "OK";
                return;
              }
              received++;
              yield r.value;
            }
          } finally {
            if (code === "CANCELLED") ctl.abort(); // stopped early or failed: end the call on the server too
          }
        } catch (err) {
          if (timedOut !== undefined) {
            code = "DEADLINE_EXCEEDED";
            lastError = new ClientError(
              path,
              Status.DEADLINE_EXCEEDED,
              `${timedOut} (instance ${entry.record.id}, attempt ${attempt}, ${received} messages received)`,
            );
            break;
          }
          if (!(err instanceof ClientError)) {
            if (callerSignal?.aborted) throw err; // the caller gave up: not a failure of ours to count
            code = "UNKNOWN";
            lastError = err;
            break;
          }
          code = Status[err.code] ?? String(err.code);
          lastError = err;
          if (received > 0 || !isRetryable(err, idempotent)) break;
          log.debug(
            { instance: entry.record.id, attempt, code, details: err.details },
            "stream failed before its first message; retrying on another instance",
          );
        } finally {
          clearTimeout(overall);
          callerSignal?.removeEventListener("abort", onCallerAbort);
          // A stream's length is the list's, not a measure of the instance: no latency for load.ts.
          endAttempt(pool, entry, methodName, code, started, false);
        }
      }
      const err = lastError ?? ctx.noInstance(path);
      ctx.countFailure(methodName, err);
      throw err;
    })();
}
