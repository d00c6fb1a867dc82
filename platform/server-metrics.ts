// Server-side RED metrics for every gRPC method: dzug_rpc_server_duration_seconds{service,method,code},
// and a debug-level log line per call.
import { type CallContext, ServerError, type ServerMiddleware, type ServerMiddlewareCall, Status } from "nice-grpc";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { histogram } from "./metrics.ts";

export function serverMetricsMiddleware(registry: Registry, service: string, logger?: Logger): ServerMiddleware {
  const duration = histogram(registry, {
    name: "dzug_rpc_server_duration_seconds",
    help: "Duration of gRPC calls handled by this process, by method and status code.",
    labelNames: ["service", "method", "code"] as const,
  });
  return async function* serverMetrics<Req, Res>(call: ServerMiddlewareCall<Req, Res>, context: CallContext) {
    // `/dzug.user.v1.UserService/GetUser` -> `GetUser`, as the client-side metrics name it.
    const method = call.method.path.slice(call.method.path.lastIndexOf("/") + 1);
    const end = duration.startTimer({ service, method });
    let code: Status = Status.OK;
    try {
      return yield* call.next(call.request, context);
    } catch (err) {
      code = err instanceof ServerError ? err.code : context.signal.aborted ? Status.CANCELLED : Status.UNKNOWN;
      throw err;
    } finally {
      const seconds = end({ code: Status[code] });
      if (logger?.isLevelEnabled("debug"))
        logger.debug({ method, code: Status[code], ms: seconds * 1000 }, "rpc served");
    }
  };
}
