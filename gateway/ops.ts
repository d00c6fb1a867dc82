// Operations endpoints: liveness, readiness (every required service has a known instance, not
// stopping), Prometheus metrics, and the discovery status page (JSON or HTML). admin.ts serves them on
// the admin port, never on the API port.
import { type RequestHandler, Router } from "express";
import type { Registry } from "prom-client";
import type { DiscoveryView } from "./deps.ts";
import { StatusCode } from "./errors.ts";
import { methodNotAllowed, tagRoute } from "./respond.ts";
import { renderStatusHtml, statusJson } from "./status.ts";

export interface OpsDeps {
  discovery: DiscoveryView;
  metrics: Registry;
  /** Services that must have ≥1 known instance for /readyz to answer 200. */
  required: readonly string[];
  shuttingDown: () => boolean;
}

/** Why the gateway is not ready (empty when it is). */
function notReadyReasons(deps: OpsDeps): string[] {
  const reasons: string[] = [];
  if (deps.shuttingDown()) reasons.push("shutting down");
  const pools = deps.discovery.snapshot();
  for (const svc of deps.required) {
    const pool = pools.find((x) => x.service === svc);
    if (!pool) reasons.push(`${svc}: not watched`);
    else if (pool.instances.length === 0)
      reasons.push(pool.ready ? `${svc}: no live instance in etcd` : `${svc}: instance list not loaded from etcd yet`);
  }
  return reasons;
}

export function opsRouter(deps: OpsDeps): Router {
  const router = Router({ caseSensitive: true });
  const get = (path: string, handler: RequestHandler) => {
    router.route(path).all(tagRoute(path)).get(handler).all(methodNotAllowed("GET, HEAD"));
  };

  get("/healthz", (_req, res) => {
    res.json({ status_code: 0, status_msg: "alive" });
  });

  get("/readyz", (_req, res) => {
    const reasons = notReadyReasons(deps);
    const stale = deps.discovery
      .snapshot()
      .filter((x) => x.stale && deps.required.includes(x.service))
      .map((x) => x.service);
    if (reasons.length === 0) {
      res.json({ status_code: 0, status_msg: "ready", stale });
      return;
    }
    res
      .status(503)
      .json({ status_code: StatusCode.UNAVAILABLE, status_msg: `not ready: ${reasons.join("; ")}`, reasons, stale });
  });

  get("/metrics", async (_req, res) => {
    const text = await deps.metrics.metrics();
    res.setHeader("content-type", deps.metrics.contentType);
    res.send(text);
  });

  get("/_dzug/status", (req, res) => {
    const view = statusJson(deps.discovery.snapshot(), { shuttingDown: deps.shuttingDown(), required: deps.required });
    const format = typeof req.query.format === "string" ? req.query.format : undefined;
    const accept = req.headers.accept ?? "";
    const wantsJson =
      format === "json" || (format !== "html" && accept.includes("application/json") && !accept.includes("text/html"));
    if (wantsJson) {
      res.json({ status_code: 0, status_msg: "success", ...view });
      return;
    }
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.send(renderStatusHtml(view));
  });

  return router;
}
