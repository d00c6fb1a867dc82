// The middlewares every API request passes: the entry (request id, RED metrics, log line), security
// headers, and the body parsers of routes that take parameters in a body.
import { randomUUID } from "node:crypto";
import express, { type RequestHandler } from "express";
import helmet from "helmet";
import multer from "multer";
import type { Logger } from "pino";
import type { Counter, Histogram, Registry } from "prom-client";
import { counter, histogram } from "../platform/metrics.ts";
import { REQUEST_ID_HEADER } from "../platform/request-context.ts";
import { tooLarge } from "./errors.ts";
import { locals } from "./respond.ts";

/** An incoming request id is kept when it looks like one (bounded, no spaces or control characters). */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/**
 * The first middleware, so every answer is counted: request id (kept or made), RED metrics by route
 * pattern, `cache-control: no-store`, and `connection: close` once the gateway is stopping.
 */
export function requestEntry(opts: { metrics: Registry; logger: Logger; shuttingDown: () => boolean }): RequestHandler {
  const { logger, shuttingDown } = opts;
  const requests = counter(opts.metrics, {
    name: "dzug_http_requests_total",
    help: "HTTP requests answered by the gateway, by route pattern, method and status.",
    labelNames: ["route", "method", "status"] as const,
  });
  const duration = histogram(opts.metrics, {
    name: "dzug_http_request_duration_seconds",
    help: "HTTP request duration at the gateway, by route pattern, method and status.",
    labelNames: ["route", "method", "status"] as const,
  });
  // Label children per (route, method, status), as many as the metrics' own series: prom-client would
  // hash a label object twice per request otherwise.
  const children = new Map<string, { requests: Counter.Internal; duration: Histogram.Internal<string> }>();
  const childrenOf = (route: string, method: string, status: string) => {
    const key = `${route} ${method} ${status}`;
    let c = children.get(key);
    if (!c) {
      const labels = { route, method, status };
      c = { requests: requests.labels(labels), duration: duration.labels(labels) };
      children.set(key, c);
    }
    return c;
  };
  return (req, res, next) => {
    const start = performance.now();
    const incoming = req.headers[REQUEST_ID_HEADER];
    const rid = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const l = locals(res);
    l.requestId = rid;
    res.setHeader(REQUEST_ID_HEADER, rid);
    res.setHeader("cache-control", "no-store");
    if (shuttingDown()) res.setHeader("connection", "close");
    res.once("close", () => {
      const route = l.route ?? "unmatched";
      const status = res.writableFinished ? String(res.statusCode) : "aborted";
      const seconds = (performance.now() - start) / 1000;
      const c = childrenOf(route, req.method, status);
      c.requests.inc();
      c.duration.observe(seconds);
      if (logger.isLevelEnabled("debug")) {
        logger.debug(
          { req_id: rid, route, method: req.method, status, ms: Math.round(seconds * 1000) },
          "http request",
        );
      }
    });
    next();
  };
}

/**
 * helmet for a JSON API plus one small self-contained HTML page (inline style, no scripts). Its headers
 * do not depend on the request, so helmet runs once at start and each response gets the recorded
 * header writes replayed (helmet per request made eleven setter calls through its middleware chain).
 */
export function securityHeaders(): RequestHandler {
  const h = helmetFor();
  const set: [string, string][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => set.push([name, String(value)]),
    removeHeader: (name: string) => removed.push(name),
  };
  let ok = false;
  h({ headers: {} } as express.Request, recorder as unknown as express.Response, (err?: unknown) => {
    ok = err === undefined;
  });
  if (!ok) return h; // not synchronous and clean as recorded: run helmet per request
  return (_req, res, next) => {
    for (const [name, value] of set) res.setHeader(name, value);
    for (const name of removed) res.removeHeader(name);
    next();
  };
}

function helmetFor(): RequestHandler {
  return helmet({
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
  });
}

/**
 * JSON, urlencoded and multipart (fields only) bodies up to `limit` bytes; mounted per API route so
 * unknown routes never read a body. Each parser skips requests whose content type is not its own.
 */
export function bodyParsers(limit: number): RequestHandler[] {
  const byLength: RequestHandler = (req, _res, next) => {
    const len = req.headers["content-length"];
    if (len !== undefined && Number(len) > limit) return next(tooLarge(limit));
    next();
  };
  const json = express.json({ limit, strict: false, type: ["application/json", "application/*+json"] });
  const form = express.urlencoded({ limit, extended: false, parameterLimit: 100 });
  const multipart = multer({
    limits: { fieldNameSize: 100, fieldSize: limit, fields: 32, parts: 32, files: 0, fieldNestingDepth: 0 },
    // Whole-body limit also for chunked multipart bodies (no content-length).
    streamHandler(req: express.Request, busboy: NodeJS.WritableStream) {
      let seen = 0;
      req.on("data", (chunk: Buffer) => {
        if (seen > limit) return; // already reported
        seen += chunk.length;
        if (seen > limit) {
          req.unpipe(busboy);
          busboy.emit("error", tooLarge(limit));
        }
      });
      req.pipe(busboy);
    },
  } as multer.Options).none();
  const chain: RequestHandler[] = [byLength, json, form, multipart];
  // One handler: a request without content-length and transfer-encoding has no body (RFC 9112 §6.3,
  // type-is' hasBody, which each parser checks first), so it skips the four router layers.
  return [
    (req, res, next) => {
      if (req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined) return next();
      let i = 0;
      const step = (err?: unknown) => {
        const handler = chain[i++];
        if (err !== undefined || handler === undefined) return next(err);
        handler(req, res, step);
      };
      step();
    },
  ];
}
