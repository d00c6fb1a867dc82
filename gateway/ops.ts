// Operations endpoints: liveness, readiness, Prometheus metrics, and the discovery status page (JSON or
// HTML). admin.ts serves them on the admin port, never on the API port.
//
// Readiness degrades per route, not per gateway: the gateway is ready while it can serve part of the
// API (not stopping, and some upstream has a known instance). A route whose upstream has none answers
// the contract's 503 at once (the balanced client fails fast on an empty pool), so an outage of one
// service does not take the others' routes out of the ingress. `degraded` names the services without one.
import { type RequestHandler, Router } from "express";
import type { Registry } from "prom-client";
import type { PoolSnapshot } from "../platform/discovery/index.ts";
import type { DiscoveryView } from "./deps.ts";
import { StatusCode } from "./errors.ts";
import { methodNotAllowed, tagRoute } from "./respond.ts";
import { renderStatusHtml, statusJson } from "./status.ts";

export interface OpsDeps {
  discovery: DiscoveryView;
  metrics: Registry;
  /** The services the gateway calls: /readyz answers 200 while at least one of them has a known instance. */
  required: readonly string[];
  shuttingDown: () => boolean;
}

/** Why `svc` has no instance to call, or undefined when it has one (known from etcd, even if stale). */
function unavailableReason(svc: string, pools: readonly PoolSnapshot[]): string | undefined {
  const pool = pools.find((x) => x.service === svc);
  if (!pool) return `${svc}: not watched`;
  if (pool.instances.length > 0) return undefined;
  return pool.ready ? `${svc}: no live instance in etcd` : `${svc}: instance list not loaded from etcd yet`;
}

interface Readiness {
  /** Why the gateway is not ready (empty when it is). */
  reasons: string[];
  /** Services without an instance: their routes answer 503 while the others serve. */
  degraded: string[];
  /** Per degraded service, why. */
  unavailable: string[];
}

function readiness(deps: OpsDeps): Readiness {
  const pools = deps.discovery.snapshot();
  const degraded: string[] = [];
  const unavailable: string[] = [];
  for (const svc of deps.required) {
    const why = unavailableReason(svc, pools);
    if (why === undefined) continue;
    degraded.push(svc);
    unavailable.push(why);
  }
  const reasons: string[] = [];
  if (deps.shuttingDown()) reasons.push("shutting down");
  if (deps.required.length > 0 && degraded.length === deps.required.length)
    reasons.push(`no upstream service has an instance (${unavailable.join("; ")})`);
  return { reasons, degraded, unavailable };
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
    const { reasons, degraded, unavailable } = readiness(deps);
    const stale = deps.discovery
      .snapshot()
      .filter((x) => x.stale && deps.required.includes(x.service))
      .map((x) => x.service);
    if (reasons.length === 0) {
      const msg = degraded.length === 0 ? "ready" : `ready, degraded: ${unavailable.join("; ")}`;
      res.json({ status_code: 0, status_msg: msg, degraded, stale });
      return;
    }
    res.status(503).json({
      status_code: StatusCode.UNAVAILABLE,
      status_msg: `not ready: ${reasons.join("; ")}`,
      reasons,
      degraded,
      stale,
    });
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
