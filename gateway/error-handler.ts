// The end of the chain: unknown paths answer 404 JSON, and every error becomes a JSON body with
// status_code/status_msg (never a stack), logged by how much it concerns the operator.
import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { type Failure, INTERNAL, mapError, StatusCode } from "./errors.ts";
import { locals, sendFailure } from "./respond.ts";

/** Unknown path: 404 JSON (the route stays "unmatched" in metrics). */
export const notFound: RequestHandler = (_req, res) => {
  sendFailure(res, { http: 404, statusCode: StatusCode.NOT_FOUND, statusMsg: "no such path" });
};

export function errorHandler(logger: Logger, bodyLimitBytes: number): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let f: Failure;
    try {
      f = mapError(err, bodyLimitBytes);
    } catch {
      f = INTERNAL;
    }
    const l = locals(res);
    if (!res.headersSent && req.socket.destroyed) {
      // The client went away (its RPCs were cancelled): nobody to answer, nothing to alarm about.
      logger.debug({ req_id: l.requestId, route: l.route ?? "unmatched", err: errText(err) }, "client disconnected");
      return;
    }
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
  };
}

function errText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
