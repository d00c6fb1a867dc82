// Per-response state shared by the middlewares, and the JSON failure body every error path sends.
import type { RequestHandler, Response } from "express";
import { type Failure, StatusCode } from "./errors.ts";

export const OK = { status_code: 0, status_msg: "success" } as const;

export interface Locals {
  /** The route pattern (the contract's path), for metrics, logs and spans; "unmatched" when none. */
  route?: string;
  requestId?: string;
  /** Fields every answer of this route carries, also failures (register/login: user_id 0, token ""). */
  failureExtra?: Readonly<Record<string, unknown>>;
  /** register/login: the valid device token the client presented (gateway/device.ts). */
  device?: { name: string; id: string };
}

export function locals(res: Response): Locals {
  return res.locals as Locals;
}

export function sendFailure(res: Response, f: Failure): void {
  if (res.headersSent) return;
  if (f.retryAfterSeconds !== undefined) res.setHeader("retry-after", String(f.retryAfterSeconds));
  res.status(f.http).json({ status_code: f.statusCode, status_msg: f.statusMsg, ...locals(res).failureExtra });
}

/** Names the route for metrics/logs before anything else of it runs. */
export const tagRoute =
  (route: string, failureExtra?: Readonly<Record<string, unknown>>): RequestHandler =>
  (_req, res, next) => {
    const l = locals(res);
    l.route = route;
    if (failureExtra) l.failureExtra = failureExtra;
    next();
  };

export const methodNotAllowed =
  (allow: string): RequestHandler =>
  (_req, res) => {
    res.setHeader("allow", allow);
    sendFailure(res, {
      http: 405,
      statusCode: StatusCode.METHOD_NOT_ALLOWED,
      statusMsg: `method not allowed; use ${allow}`,
    });
  };
