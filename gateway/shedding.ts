// The gateway's load shedding: an API request arriving while the process is overloaded (too many in
// flight, or the event loop lagging; platform/overload.ts) is answered 503 with Retry-After at once,
// before any parsing or RPC. Ops endpoints (/healthz, /readyz, /metrics, status) are never shed.
import type { RequestHandler } from "express";
import type { LoadShedder } from "../platform/overload.ts";
import { overloaded } from "./errors.ts";

export function shedding(shedder: LoadShedder): RequestHandler {
  return (_req, res, next) => {
    if (shedder.enter() !== undefined) return next(overloaded());
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      shedder.leave();
    };
    res.once("finish", leave);
    res.once("close", leave);
    next();
  };
}
