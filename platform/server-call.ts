// The one server middleware of every service: request id, RED metrics and the per-call debug line,
// domain error mapping and rich error details, in one frame. These were four stacked async-generator
// middlewares, each adding generator steps and microtask hops to every call (docs/profiling.md).
//
// - `x-request-id` from the caller becomes the current request id while the call runs (AsyncLocalStorage),
//   so every log line written while serving it names it; the caller's deadline becomes the current one;
// - dzug_rpc_server_duration_seconds{service,method,code} and a debug log line per call;
// - errors: platform/errors.ts' toServerError (DomainError -> status + ErrorInfo in the
//   grpc-status-details-bin trailer, downstream failures keep their code, the rest is INTERNAL).
import { type CallContext, ServerError, type ServerMiddleware, type ServerMiddlewareCall, Status } from "nice-grpc";
import { RichServerError } from "nice-grpc-error-details";
import type { Logger } from "pino";
import type { Histogram, Registry } from "prom-client";
import { callDeadline, runWithDeadline } from "./deadline.ts";
import { setErrorDetailsTrailer, toServerError } from "./errors.ts";
import { histogram } from "./metrics.ts";
import type { LoadShedder } from "./overload.ts";
import { REQUEST_ID_HEADER, runWithRequestId } from "./request-context.ts";

/** grpc.health.v1: never shed. */
const HEALTH_PREFIX = "/grpc.health.v1.";

interface MethodMetrics {
  /** `/dzug.user.v1.UserService/GetUser` -> `GetUser`, as the client-side metrics name it. */
  name: string;
  /** Label children by status code, made on first use (prom-client hashes a label object otherwise). */
  byCode: Map<Status, Histogram.Internal<"service" | "method" | "code">>;
}

export interface ServerCallOptions {
  registry: Registry;
  service: string;
  logger: Logger;
  /** Load shedding (platform/overload.ts): refused calls answer RESOURCE_EXHAUSTED at once. */
  shedder?: LoadShedder;
}

/** One unary call as the flat server (platform/grpc-server.ts) and the middleware both serve it. */
export type ServeUnary = <Res>(
  path: string,
  /** The caller's x-request-id, the caller's deadline (epoch ms). */
  call: { requestId: string | undefined; deadline: number | undefined },
  context: CallContext,
  handler: () => Promise<Res>,
) => Promise<Res>;

export function serverCallMiddleware(opts: ServerCallOptions): ServerMiddleware {
  return serverCalls(opts).middleware;
}

/**
 * The call handling of a service: `unary` for the flat server's unary methods, `middleware` (the same
 * for unary calls, plus streaming) for nice-grpc's server.
 */
export function serverCalls(opts: ServerCallOptions): { unary: ServeUnary; middleware: ServerMiddleware } {
  const { service, logger, shedder } = opts;
  const duration = histogram(opts.registry, {
    name: "dzug_rpc_server_duration_seconds",
    help: "Duration of gRPC calls handled by this process, by method and status code.",
    labelNames: ["service", "method", "code"] as const,
  });
  const byPath = new Map<string, MethodMetrics>();
  const metricsOf = (path: string): MethodMetrics => {
    let m = byPath.get(path);
    if (!m) {
      m = { name: path.slice(path.lastIndexOf("/") + 1), byCode: new Map() };
      byPath.set(path, m);
    }
    return m;
  };
  const done = (m: MethodMetrics, code: Status, start: number) => {
    let child = m.byCode.get(code);
    if (!child) {
      child = duration.labels({ service, method: m.name, code: Status[code] });
      m.byCode.set(code, child);
    }
    const seconds = (performance.now() - start) / 1000;
    child.observe(seconds);
    if (logger.isLevelEnabled("debug"))
      logger.debug({ method: m.name, code: Status[code], ms: seconds * 1000 }, "rpc served");
  };
  /** The error to answer with, its trailer set; `code` for the metrics. */
  const fail = async (err: unknown, path: string, context: CallContext) => {
    const out = toServerError(err, path, context.signal.aborted, logger);
    if (out instanceof RichServerError) await setErrorDetailsTrailer(out, context);
    const code = out instanceof ServerError ? out.code : context.signal.aborted ? Status.CANCELLED : Status.UNKNOWN;
    return { out, code };
  };

  async function run<Res>(path: string, context: CallContext, m: MethodMetrics, handler: () => Promise<Res>) {
    const start = performance.now();
    let code: Status = Status.OK;
    try {
      return await handler();
    } catch (err) {
      const f = await fail(err, path, context);
      code = f.code;
      throw f.out;
    } finally {
      done(m, code, start);
    }
  }

  /** A unary call inside the request id's store and under the caller's deadline (inherited by its calls). */
  const unary: ServeUnary = async (path, { requestId, deadline }, context, handler) => {
    const m = metricsOf(path);
    const serve = () =>
      requestId === undefined
        ? run(path, context, m, handler)
        : runWithRequestId(requestId, () => run(path, context, m, handler));
    // Shed before any work; health checks never are (probes must see the truth).
    if (!shedder || path.startsWith(HEALTH_PREFIX))
      return deadline === undefined ? serve() : runWithDeadline(deadline, serve);
    const reason = shedder.enter();
    if (reason !== undefined) {
      done(m, Status.RESOURCE_EXHAUSTED, performance.now());
      throw new ServerError(Status.RESOURCE_EXHAUSTED, `overloaded (${reason}); try again shortly`);
    }
    try {
      return await (deadline === undefined ? serve() : runWithDeadline(deadline, serve));
    } finally {
      shedder.leave();
    }
  };

  const middleware = async function* serverCall<Req, Res>(call: ServerMiddlewareCall<Req, Res>, context: CallContext) {
    const header = context.metadata.get(REQUEST_ID_HEADER);
    const id = typeof header === "string" && header !== "" ? header : undefined;
    if (!call.requestStream && !call.responseStream) {
      // Unary (every dzug method): one await, the whole call inside the request id's store and under
      // the caller's deadline (the calls the handler makes inherit what is left of it).
      return await unary(
        call.method.path,
        { requestId: id, deadline: callDeadline(context.metadata) },
        context,
        async () => {
          const step = await call.next(call.request, context).next();
          if (!step.done) throw new Error("a unary handler yielded a message");
          return step.value;
        },
      );
    }
    const m = metricsOf(call.method.path);
    // Streaming (health Watch, relation's streamed lists): each step of the handler runs inside the store.
    const start = performance.now();
    let code: Status = Status.OK;
    const inStore = <T>(fn: () => T): T => (id === undefined ? fn() : runWithRequestId(id, fn));
    try {
      const inner = inStore(() => call.next(call.request, context));
      for (;;) {
        const step = await inStore(() => inner.next());
        if (step.done) return step.value;
        yield step.value;
      }
    } catch (err) {
      const f = await fail(err, call.method.path, context);
      code = f.code;
      throw f.out;
    } finally {
      // Inside the store too: the call's debug line carries its request id, as a unary call's does.
      inStore(() => done(m, code, start));
    }
  } as ServerMiddleware;
  return { unary, middleware };
}
