// The Express app mapping the douyin HTTP API (docs/api/douyin-http.md) to the user and
// relation RPCs. Everything it needs is injected (clients, token verifier, discovery view, metrics),
// so tests run it with in-process fakes; gateway/server.ts wires the real ones.
//
// Hot path: no etcd reads, no channel creation, no sync I/O. Per request: one entry middleware
// (request id, RED metrics, cache header), helmet's headers, the route's body parsers (only when a
// body is present), zod validation, the RPCs, JSON out.
import { randomUUID } from "node:crypto";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from "express";
import helmet from "helmet";
import multer from "multer";
import { type CallOptions, type Client, Metadata } from "nice-grpc";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { z } from "zod";
import type { PoolSnapshot } from "../platform/discovery/index.ts";
import { counter, histogram } from "../platform/metrics.ts";
import {
  type Friend,
  MessageDirection,
  type RelatedUser,
  type RelationServiceDefinition,
  type RelationStats,
} from "../proto/gen/dzug/relation/v1/relation.ts";
import type { UserProfile, UserServiceDefinition } from "../proto/gen/dzug/user/v1/user.ts";
import { badParameter, type Failure, INTERNAL, mapError, RequestError, StatusCode, tooLarge } from "./errors.ts";
import { renderStatusHtml, statusJson } from "./status.ts";

/** What the gateway reads of platform/discovery's Discovery (structurally; tests pass a fake). */
export interface DiscoveryView {
  snapshot(): PoolSnapshot[];
}

export type { PoolSnapshot };

export interface TokenVerifier {
  /** The token's user id; throws DomainError UNAUTHENTICATED (TOKEN_INVALID / TOKEN_EXPIRED). */
  verify(token: string): Promise<number>;
}

export interface GatewayDeps {
  user: Client<UserServiceDefinition>;
  relation: Client<RelationServiceDefinition>;
  tokens: TokenVerifier;
  discovery: DiscoveryView;
  logger: Logger;
  metrics: Registry;
  bodyLimitBytes: number;
  /** Services that must have ≥1 known instance for /readyz to answer 200. */
  requiredServices?: readonly string[];
  /** True once a graceful stop began: /readyz answers 503 and connections are not kept alive. */
  shuttingDown?: () => boolean;
  /** Install the OpenTelemetry SERVER-span middleware (when tracing is enabled). */
  tracing?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Response shapes (the contract's field names)

export interface DouyinUser {
  id: number;
  name: string;
  follow_count: number;
  follower_count: number;
  is_follow: boolean;
  avatar: string;
  background_image: string;
  signature: string;
  total_favorited: number;
  work_count: number;
  favorite_count: number;
}

export interface DouyinFriendUser extends DouyinUser {
  message: string;
  msgType: number;
}

function toUser(profile: UserProfile, stats: RelationStats | undefined): DouyinUser {
  return {
    id: profile.id,
    name: profile.name,
    follow_count: stats?.followCount ?? 0,
    follower_count: stats?.followerCount ?? 0,
    is_follow: stats?.isFollow ?? false,
    avatar: profile.avatar,
    background_image: profile.backgroundImage,
    signature: profile.signature,
    total_favorited: profile.totalFavorited,
    work_count: profile.workCount,
    favorite_count: profile.favoriteCount,
  };
}

// ---------------------------------------------------------------------------------------------
// Parameters: query + body (urlencoded, multipart fields, JSON object). The body wins over the query
// for the same key; within one source a repeated key must repeat the same value.

type Bag = Record<string, unknown>;

function single(name: string, v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  if (v.length === 0) return undefined;
  const first = v[0];
  for (const x of v) if (x !== first) throw badParameter(`invalid parameter ${name}: given several different values`);
  return first;
}

class Params {
  readonly #query: Bag;
  readonly #body: Bag | undefined;
  constructor(req: Request) {
    this.#query = req.query as Bag;
    const body: unknown = req.body;
    if (body === undefined || body === null) this.#body = undefined;
    else if (typeof body === "object" && !Array.isArray(body) && !Buffer.isBuffer(body)) this.#body = body as Bag;
    else throw new RequestError(400, StatusCode.BAD_BODY, "request body must be a JSON object");
  }
  get(name: string): unknown {
    if (this.#body !== undefined && Object.hasOwn(this.#body, name)) return single(name, this.#body[name]);
    if (Object.hasOwn(this.#query, name)) return single(name, this.#query[name]);
    return undefined;
  }
}

const str = (min: number, max: number) =>
  z
    .string({ error: "must be a string" })
    .min(min, min === 1 ? "must not be empty" : `must be ${min} to ${max} characters`)
    .max(max, `must be ${min === 1 ? "at most" : `${min} to`} ${max} characters`);

/** int64 id: a JSON number or a decimal string ("42"), 1..2^53-1. */
const id = z
  .union([z.number({ error: "must be an integer" }), z.string().regex(/^\d+$/, "must be an integer")], {
    error: "must be an integer",
  })
  .transform(Number)
  .pipe(
    z
      .number()
      .max(Number.MAX_SAFE_INTEGER, "is out of range")
      .int("must be an integer")
      .min(1, "must be a positive integer"),
  );

const actionType = z
  .union([z.number(), z.string().regex(/^\d+$/, "must be 1 (follow) or 2 (unfollow)")], {
    error: "must be 1 (follow) or 2 (unfollow)",
  })
  .transform(Number)
  .pipe(z.union([z.literal(1), z.literal(2)], { error: "must be 1 (follow) or 2 (unfollow)" }));

const schemas = {
  register: z.object({ username: str(1, 32), password: str(6, 32) }),
  login: z.object({ username: str(1, 32), password: str(1, 32) }),
  user: z.object({ user_id: id.optional() }),
  action: z.object({ to_user_id: id, action_type: actionType }),
  list: z.object({ user_id: id }),
};

/**
 * Reads `names` and validates them: a missing (absent or "") parameter or a bad one is a 400 naming it.
 * An empty string counts as absent (forms send `user_id=` for "not given").
 */
function parse<S extends z.ZodObject>(schema: S, p: Params, names: readonly string[]): z.infer<S> {
  const input: Bag = {};
  for (const n of names) {
    const v = p.get(n);
    if (v !== undefined && v !== "" && v !== null) input[n] = v;
  }
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const name = String(issue?.path[0] ?? "");
  if (input[name] === undefined) throw badParameter(`missing parameter ${name}`);
  throw badParameter(`invalid parameter ${name}: ${issue?.message ?? "invalid"}`);
}

/** `token` parameter, else `Authorization: Bearer <token>`; absent -> 400 (a missing required parameter). */
function tokenOf(req: Request, p: Params): string {
  const t = p.get("token");
  if (typeof t === "string" && t !== "") return t;
  if (t !== undefined && t !== "" && t !== null) throw badParameter("invalid parameter token: must be a string");
  const h = req.headers.authorization;
  if (h !== undefined && h !== "") {
    const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(h);
    if (!m?.[1]) throw badParameter("invalid Authorization header: expected Bearer <token>");
    return m[1];
  }
  throw badParameter("missing parameter token");
}

// ---------------------------------------------------------------------------------------------

const OK = { status_code: 0, status_msg: "success" } as const;
const NO_CREDENTIALS = Object.freeze({ user_id: 0, token: "" });

interface Locals {
  route?: string;
  requestId?: string;
  /** Fields every answer of this route carries, also failures (register/login: user_id 0, token ""). */
  failureExtra?: Readonly<Record<string, unknown>>;
}

function locals(res: Response): Locals {
  return res.locals as Locals;
}

function sendFailure(res: Response, f: Failure): void {
  if (res.headersSent) return;
  res.status(f.http).json({ status_code: f.statusCode, status_msg: f.statusMsg, ...locals(res).failureExtra });
}

export function createApp(deps: GatewayDeps): Express {
  const { user, relation, tokens, logger, bodyLimitBytes } = deps;
  const required = deps.requiredServices ?? ["user", "relation"];
  const shuttingDown = deps.shuttingDown ?? (() => false);

  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", "simple");
  app.set("case sensitive routing", true);

  // --- RED metrics + request id: the first middleware, so every answer is counted.
  const requests = counter(deps.metrics, {
    name: "dzug_http_requests_total",
    help: "HTTP requests answered by the gateway, by route pattern, method and status.",
    labelNames: ["route", "method", "status"] as const,
  });
  const duration = histogram(deps.metrics, {
    name: "dzug_http_request_duration_seconds",
    help: "HTTP request duration at the gateway, by route pattern, method and status.",
    labelNames: ["route", "method", "status"] as const,
  });

  app.use((req: Request, res: Response, next: NextFunction) => {
    const start = performance.now();
    const incoming = req.headers["x-request-id"];
    const rid = typeof incoming === "string" && /^[\w.:@/+=-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    const l = locals(res);
    l.requestId = rid;
    res.setHeader("x-request-id", rid);
    res.setHeader("cache-control", "no-store");
    if (shuttingDown()) res.setHeader("connection", "close");
    res.once("close", () => {
      const labels = {
        route: l.route ?? "unmatched",
        method: req.method,
        status: res.writableFinished ? String(res.statusCode) : "aborted",
      };
      requests.inc(labels);
      duration.observe(labels, (performance.now() - start) / 1000);
      if (logger.isLevelEnabled("debug")) {
        logger.debug(
          {
            req_id: rid,
            method: req.method,
            route: labels.route,
            status: labels.status,
            ms: Math.round(performance.now() - start),
          },
          "http request",
        );
      }
    });
    next();
  });

  if (deps.tracing) app.use(tracingMiddleware());

  app.use(
    helmet({
      // A JSON API plus one small self-contained HTML page (inline style, no scripts).
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          styleSrc: ["'unsafe-inline'"],
          baseUri: ["'none'"],
          formAction: ["'none'"],
          frameAncestors: ["'none'"],
        },
      },
      crossOriginEmbedderPolicy: false,
      // TLS ends in front of the gateway (ingress); HSTS belongs there.
      strictTransportSecurity: false,
    }),
  );

  // --- body parsing, per API route (so unknown routes never read a body).
  const tooLargeByLength: RequestHandler = (req, _res, next) => {
    const len = req.headers["content-length"];
    if (len !== undefined && Number(len) > bodyLimitBytes) return next(tooLarge(bodyLimitBytes));
    next();
  };
  const json = express.json({ limit: bodyLimitBytes, strict: false, type: ["application/json", "application/*+json"] });
  const form = express.urlencoded({ limit: bodyLimitBytes, extended: false, parameterLimit: 100 });
  const multipart = multer({
    limits: { fieldNameSize: 100, fieldSize: bodyLimitBytes, fields: 32, parts: 32, files: 0, fieldNestingDepth: 0 },
    // Whole-body limit also for chunked multipart bodies (no content-length).
    streamHandler(req: Request, busboy: NodeJS.WritableStream) {
      let seen = 0;
      req.on("data", (chunk: Buffer) => {
        if (seen > bodyLimitBytes) return; // already reported
        seen += chunk.length;
        if (seen > bodyLimitBytes) {
          req.unpipe(busboy);
          busboy.emit("error", tooLarge(bodyLimitBytes));
        }
      });
      req.pipe(busboy);
    },
  } as multer.Options).none();
  const bodyParsers: RequestHandler[] = [tooLargeByLength, json, form, multipart];

  // --- routes
  type Handler = (req: Request, res: Response, p: Params, opts: CallOptions) => Promise<void>;
  const methodNotAllowed =
    (allow: string): RequestHandler =>
    (_req, res) => {
      res.setHeader("allow", allow);
      sendFailure(res, {
        http: 405,
        statusCode: StatusCode.METHOD_NOT_ALLOWED,
        statusMsg: `method not allowed; use ${allow}`,
      });
    };
  const tag =
    (route: string, failureExtra?: Readonly<Record<string, unknown>>): RequestHandler =>
    (_req, res, next) => {
      const l = locals(res);
      l.route = route;
      if (failureExtra) l.failureExtra = failureExtra;
      next();
    };
  const callOptions = (res: Response): CallOptions => ({
    metadata: Metadata({ "x-request-id": locals(res).requestId ?? "" }),
  });

  /** `route` is the contract's path (with trailing slash); Express' non-strict routing serves both forms. */
  const api = (
    method: "get" | "post",
    route: string,
    handler: Handler,
    failureExtra?: Readonly<Record<string, unknown>>,
  ) => {
    const run: RequestHandler = async (req, res) => {
      const p = new Params(req);
      await handler(req, res, p, callOptions(res));
    };
    const allow = method === "get" ? "GET, HEAD" : "POST";
    app
      .route(route.replace(/\/$/, ""))
      .all(tag(route, failureExtra))
      [method](...bodyParsers, run)
      .all(methodNotAllowed(allow));
  };

  api(
    "post",
    "/douyin/user/register/",
    async (_req, res, p, opts) => {
      const { username, password } = parse(schemas.register, p, ["username", "password"]);
      const r = await user.register({ username, password }, opts);
      res.json({ ...OK, user_id: r.userId, token: r.token });
    },
    NO_CREDENTIALS,
  );

  api(
    "post",
    "/douyin/user/login/",
    async (_req, res, p, opts) => {
      const { username, password } = parse(schemas.login, p, ["username", "password"]);
      const r = await user.login({ username, password }, opts);
      res.json({ ...OK, user_id: r.userId, token: r.token });
    },
    NO_CREDENTIALS,
  );

  api("get", "/douyin/user/", async (req, res, p, opts) => {
    const { user_id } = parse(schemas.user, p, ["user_id"]);
    const token = tokenOf(req, p);
    const viewer = await tokens.verify(token);
    const target = user_id ?? viewer;
    const [profile, stats] = await Promise.allSettled([
      user.getUser({ id: target }, opts),
      relation.getRelationStats({ viewerId: viewer, userIds: [target] }, opts),
    ]);
    // The profile's failure (e.g. USER_NOT_FOUND) is the one the client should see.
    if (profile.status === "rejected") throw profile.reason;
    if (stats.status === "rejected") throw stats.reason;
    const u = profile.value.user;
    if (!u) throw new Error("user.GetUser answered without a user");
    const s = stats.value.stats.find((x) => x.userId === target);
    res.json({ ...OK, user: toUser(u, s) });
  });

  api("post", "/douyin/relation/action/", async (req, res, p, opts) => {
    const { to_user_id, action_type } = parse(schemas.action, p, ["to_user_id", "action_type"]);
    const token = tokenOf(req, p);
    const viewer = await tokens.verify(token);
    if (action_type === 1) await relation.follow({ followerId: viewer, followeeId: to_user_id }, opts);
    else await relation.unfollow({ followerId: viewer, followeeId: to_user_id }, opts);
    res.json({ ...OK });
  });

  const relatedList = (users: readonly RelatedUser[]): DouyinUser[] => {
    const out: DouyinUser[] = [];
    for (const r of users) {
      if (r.profile) out.push(toUser(r.profile, r.stats));
      else logger.warn({ stats: r.stats }, "relation returned a list entry without a profile; skipped");
    }
    return out;
  };
  const friendList = (friends: readonly Friend[]): DouyinFriendUser[] => {
    const out: DouyinFriendUser[] = [];
    for (const f of friends) {
      if (!f.user?.profile) {
        logger.warn("relation returned a friend without a profile; skipped");
        continue;
      }
      out.push({
        ...toUser(f.user.profile, f.user.stats),
        message: f.message,
        msgType: f.direction === MessageDirection.MESSAGE_DIRECTION_SENT ? 1 : 0,
      });
    }
    return out;
  };

  api("get", "/douyin/relation/follow/list/", async (req, res, p, opts) => {
    const { user_id } = parse(schemas.list, p, ["user_id"]);
    const viewer = await tokens.verify(tokenOf(req, p));
    const r = await relation.listFollowing({ userId: user_id, viewerId: viewer }, opts);
    res.json({ ...OK, user_list: relatedList(r.users) });
  });

  api("get", "/douyin/relation/follower/list/", async (req, res, p, opts) => {
    const { user_id } = parse(schemas.list, p, ["user_id"]);
    const viewer = await tokens.verify(tokenOf(req, p));
    const r = await relation.listFollowers({ userId: user_id, viewerId: viewer }, opts);
    res.json({ ...OK, user_list: relatedList(r.users) });
  });

  api("get", "/douyin/relation/friend/list/", async (req, res, p, opts) => {
    const { user_id } = parse(schemas.list, p, ["user_id"]);
    const viewer = await tokens.verify(tokenOf(req, p));
    const r = await relation.listFriends({ userId: user_id, viewerId: viewer }, opts);
    res.json({ ...OK, user_list: friendList(r.friends) });
  });

  // --- operations endpoints
  const ops = (route: string, handler: RequestHandler) => {
    app.route(route).all(tag(route)).get(handler).all(methodNotAllowed("GET, HEAD"));
  };

  ops("/healthz", (_req, res) => {
    res.json({ status_code: 0, status_msg: "alive" });
  });

  ops("/readyz", (_req, res) => {
    const reasons: string[] = [];
    if (shuttingDown()) reasons.push("shutting down");
    const pools = deps.discovery.snapshot();
    for (const svc of required) {
      const pool = pools.find((x) => x.service === svc);
      if (!pool) reasons.push(`${svc}: not watched`);
      else if (pool.instances.length === 0)
        reasons.push(
          pool.ready ? `${svc}: no live instance in etcd` : `${svc}: instance list not loaded from etcd yet`,
        );
    }
    const stale = pools.filter((x) => x.stale && required.includes(x.service)).map((x) => x.service);
    if (reasons.length === 0) res.json({ status_code: 0, status_msg: "ready", stale });
    else
      res
        .status(503)
        .json({ status_code: StatusCode.UNAVAILABLE, status_msg: `not ready: ${reasons.join("; ")}`, reasons, stale });
  });

  ops("/metrics", async (_req, res) => {
    const text = await deps.metrics.metrics();
    res.setHeader("content-type", deps.metrics.contentType);
    res.send(text);
  });

  ops("/_dzug/status", (req, res) => {
    const view = statusJson(deps.discovery.snapshot(), { shuttingDown: shuttingDown(), required });
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

  // --- unknown path: 404 JSON (route stays "unmatched" in metrics)
  app.use((_req: Request, res: Response) => {
    sendFailure(res, { http: 404, statusCode: StatusCode.NOT_FOUND, statusMsg: "no such path" });
  });

  // --- the one error handler: everything becomes a JSON body with status_code/status_msg, no stack.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let f: Failure;
    try {
      f = mapError(err, bodyLimitBytes);
    } catch {
      f = INTERNAL;
    }
    const l = locals(res);
    const log = {
      req_id: l.requestId,
      route: l.route ?? "unmatched",
      method: req.method,
      http: f.http,
      status_code: f.statusCode,
    };
    if (f.internal) logger.error({ ...log, err }, "request failed");
    else if (f.http >= 500) logger.warn({ ...log, err: errText(err) }, "request failed: dependency");
    else if (logger.isLevelEnabled("debug")) logger.debug({ ...log, err: errText(err) }, "request rejected");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendFailure(res, f);
  });

  return app;
}

function errText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** A SERVER span per request, child of an incoming W3C traceparent; handlers run inside its context. */
function tracingMiddleware(): RequestHandler {
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
