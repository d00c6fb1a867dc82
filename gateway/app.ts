// The Express app serving the douyin HTTP API (docs/api/douyin-http.md) over the user and relation
// RPCs. Everything it needs is injected (GatewayDeps), so tests run it with in-process fakes;
// gateway/server.ts wires the real ones.
//
// Hot path: no etcd reads, no channel creation, no sync I/O. Per request: the entry middleware
// (request id, RED metrics), helmet's headers, the route's body parsers (only when a body is
// present), zod validation, the RPCs, JSON out.
import express, { type Express, type Request, type RequestHandler, type Response } from "express";
import { Metadata } from "nice-grpc";
import { DEFAULT_LIST_STREAMS } from "../platform/config-schema.ts";
import { CLIENT_KEY_HEADER, DEVICE_PRIORITY_HEADER, REQUEST_ID_HEADER } from "../platform/request-context.ts";
import type { GatewayDeps } from "./deps.ts";
import { deviceFor } from "./device.ts";
import { errorHandler, notFound } from "./error-handler.ts";
import { bodyParsers, requestEntry, securityHeaders } from "./middleware.ts";
import { openApiDocument } from "./openapi.ts";
import { Params, parseParams, tokenOf } from "./params.ts";
import { clientAddress } from "./rate-limit.ts";
import { locals, methodNotAllowed, OK, tagRoute } from "./respond.ts";
import { ROUTES, type Route } from "./routes.ts";
import { credentialsInFlight, inFlightPerAddress, shedding } from "./shedding.ts";
import { type ListStreamer, listStreamer, StreamedList } from "./streamed-list.ts";
import { tracingMiddleware } from "./tracing.ts";

export type { DiscoveryView, GatewayDeps, PoolSnapshot, TokenVerifier } from "./deps.ts";

export function createApp(deps: GatewayDeps): Express {
  const shuttingDown = deps.shuttingDown ?? (() => false);
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", "simple");
  app.set("case sensitive routing", true);
  app.set("trust proxy", deps.trustProxy ?? false);

  app.use(requestEntry({ metrics: deps.metrics, logger: deps.logger, shuttingDown }));
  if (deps.tracing) app.use(tracingMiddleware());
  app.use(securityHeaders());

  const shared: SharedHandlers = {
    parsers: bodyParsers(deps.bodyLimitBytes),
    // One bound for all list routes of this process: it is their sum that takes memory.
    sendList: listStreamer(deps.maxConcurrentListStreams ?? DEFAULT_LIST_STREAMS, deps.logger),
    // One bound for login and register together: both spend the same password-hashing queue.
    credentials: deps.credentialsInFlight ? [credentialsInFlight(deps.credentialsInFlight)] : [],
  };
  for (const route of ROUTES) mountRoute(app, route, deps, shared);
  serveOpenApi(app);
  // Operations endpoints (/metrics, /readyz, the status page) are not here: admin.ts serves them on
  // the admin port; on this one they are unknown paths.
  app.use(notFound);
  app.use(errorHandler(deps.logger, deps.bodyLimitBytes));
  return app;
}

/** What every route shares: one instance each, so their bounds are the process's. */
interface SharedHandlers {
  parsers: RequestHandler[];
  sendList: ListStreamer;
  credentials: RequestHandler[];
}

/** Serves `route.path` with and without its trailing slash (Express' non-strict routing). */
function mountRoute(app: Express, route: Route, deps: GatewayDeps, shared: SharedHandlers): void {
  const { parsers, sendList } = shared;
  const limits = deps.rateLimits;
  const run: RequestHandler = async (req, res) => {
    const p = new Params(req);
    const params = parseParams(route.params, p);
    const viewer = route.auth ? await deps.tokens.verify(tokenOf(req, p)) : 0;
    const metadata = Metadata({ [REQUEST_ID_HEADER]: locals(res).requestId ?? "" });
    const opts = { metadata, signal: abortedOnDisconnect(res) };
    const username = route.limit === "login" ? String(params.username) : undefined;
    if (route.limit) credentialsMetadata(metadata, req, res, username);
    if (limits && username !== undefined) limits.beforeLogin(req, res, username);
    let result: Record<string, unknown> | StreamedList;
    try {
      result = await route.handle(params, { deps, viewer, opts });
    } catch (err) {
      if (limits && username !== undefined) limits.afterLoginFailure(req, res, username, err);
      throw err;
    }
    if (route.limit && deps.devices) await deps.devices.remember(req, res, String(params.username));
    if (result instanceof StreamedList) await sendList(res, result);
    else res.json({ ...OK, ...result });
  };
  app
    .route(route.path.replace(/\/$/, ""))
    .all(tagRoute(route.path, route.failureExtra))
    [route.method](
      ...(deps.shedder ? [shedding(deps.shedder)] : []),
      ...(route.limit === "login" && deps.devices ? [deps.devices.reader()] : []),
      ...(route.limit ? shared.credentials : []),
      ...(limits ? limits.addressLimit(route.limit) : []),
      ...(route.limit && deps.credentialsInFlightPerAddress
        ? [inFlightPerAddress(deps.credentialsInFlightPerAddress, `${route.limit} requests`)]
        : []),
      ...parsers,
      run,
    )
    .all(methodNotAllowed(route.method === "get" ? "GET, HEAD" : "POST"));
}

/**
 * What the user service needs to queue a password check fairly (platform/bulkhead.ts): the client
 * (grouped address) and, for a login from a device that logged in to this account before, priority.
 */
function credentialsMetadata(metadata: Metadata, req: Request, res: Response, username: string | undefined): void {
  metadata.set(CLIENT_KEY_HEADER, clientAddress(req));
  if (username !== undefined && deviceFor(res, username)) metadata.set(DEVICE_PRIORITY_HEADER, "1");
}

/**
 * A signal that aborts when the HTTP client goes away before its answer was sent: the request's RPCs
 * are cancelled (grpc-js sends RST_STREAM, the servers' call signals abort) instead of running on.
 */
function abortedOnDisconnect(res: Response): AbortSignal {
  const ctl = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) ctl.abort(new Error("the HTTP client disconnected"));
  });
  return ctl.signal;
}

function serveOpenApi(app: Express): void {
  const body = JSON.stringify(openApiDocument());
  app
    .route("/openapi.json")
    .all(tagRoute("/openapi.json"))
    .get((_req, res) => {
      res.type("application/json").send(body);
    })
    .all(methodNotAllowed("GET, HEAD"));
}
