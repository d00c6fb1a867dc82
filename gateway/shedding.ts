// The gateway's load shedding: an API request arriving while the process is overloaded (too many in
// flight, or the event loop lagging; platform/overload.ts) is answered 503 with Retry-After at once,
// before any parsing or RPC. Ops endpoints (/healthz, /readyz, /metrics, status) are on the admin port,
// never shed.
import type { RequestHandler, Response } from "express";
import type { LoadShedder } from "../platform/overload.ts";
import { overloaded, tooManyRequests } from "./errors.ts";
import { clientAddress } from "./rate-limit.ts";
import { locals } from "./respond.ts";

/** Runs `leave` once when the answer ends: sent in full ("finish") or cut off ("close"), whichever comes first. */
function whenDone(res: Response, leave: () => void): void {
  let left = false;
  const once = () => {
    if (left) return;
    left = true;
    leave();
  };
  res.once("finish", once);
  res.once("close", once);
}

export function shedding(shedder: LoadShedder): RequestHandler {
  return (_req, res, next) => {
    if (shedder.enter() !== undefined) return next(overloaded());
    whenDone(res, () => shedder.leave());
    next();
  };
}

/**
 * At most `max` login/register requests in flight in this process from clients that presented no valid
 * device token (gateway/device.ts, read before this runs); one more is answered 503 + Retry-After at
 * once, before parsing or any RPC. A device's requests pass and are not counted: the owner of an
 * account logs in while a flood from many addresses is being refused here.
 */
export function credentialsInFlight(max: number): RequestHandler {
  let inFlight = 0;
  return (_req, res, next) => {
    if (locals(res).device) return next();
    if (inFlight >= max) return next(overloaded());
    inFlight++;
    whenDone(res, () => inFlight--);
    next();
  };
}

/**
 * At most `max` requests of one client address in flight on a route (login and register: each costs a
 * password hash); one more is answered 429 + Retry-After at once. Addresses grouped as the limits
 * group them (an IPv6 /64 is one client). Memory: one entry per address with
 * a request in flight, removed when its last one ends.
 */
export function inFlightPerAddress(max: number, what: string): RequestHandler {
  const inFlight = new Map<string, number>();
  return (req, res, next) => {
    const ip = clientAddress(req);
    const n = inFlight.get(ip) ?? 0;
    if (n >= max) return next(tooManyRequests(`${what} in progress from this address`, 1));
    inFlight.set(ip, n + 1);
    whenDone(res, () => {
      const now = (inFlight.get(ip) ?? 1) - 1;
      if (now <= 0) inFlight.delete(ip);
      else inFlight.set(ip, now);
    });
    next();
  };
}
