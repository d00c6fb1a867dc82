// A SERVER span per HTTP request, child of an incoming W3C traceparent; handlers (and so the RPCs they
// make) run inside its context. Installed only when tracing is enabled.
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { RequestHandler } from "express";
import { locals } from "./respond.ts";

export function tracingMiddleware(): RequestHandler {
  const tracer = trace.getTracer("dzug-gateway");
  return (req, res, next) => {
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(
      `HTTP ${req.method}`,
      { kind: SpanKind.SERVER, attributes: { "http.request.method": req.method, "url.path": req.path } },
      parent,
    );
    res.once("close", () => {
      const l = locals(res);
      const route = l.route ?? "unmatched";
      span.updateName(`HTTP ${req.method} ${route}`);
      span.setAttribute("http.route", route);
      span.setAttribute("http.response.status_code", res.statusCode);
      if (l.requestId) span.setAttribute("http.request_id", l.requestId);
      if (res.statusCode >= 500 || !res.writableFinished) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };
}
