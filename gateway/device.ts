// Device tokens (OWASP's "device cookies"): a successful login or registration gives the client a
// signed token naming the account (its usernameKey) and a random device id, as a cookie. A login that
// presents a valid token for the name it logs in to is from a device that logged in before: it is
// exempt from the per-address login limit and the per-username failure limits (an attacker hammering
// the name from many addresses cannot lock its owner out), its password check waits in the user
// service's priority queue (real users get through a distributed flood), and its failures spend the
// device's own small budget (rateLimit.loginFailuresPerDevice) instead: a stolen cookie buys a few
// guesses, not a bypass. The contract's JSON answers do not change; clients without a cookie jar can
// send the same value in `x-dzug-device`.
import { randomUUID } from "node:crypto";
import type { Request, RequestHandler, Response } from "express";
import { jwtVerify, SignJWT } from "jose";
import { usernameKey } from "../platform/credentials.ts";
import { locals } from "./respond.ts";

export const DEVICE_COOKIE = "dzug-device";
export const DEVICE_HEADER = "x-dzug-device";
/** A device token's lifetime: a device that has not logged in for this long is a new one again. */
export const DEVICE_TTL_SECONDS = 30 * 24 * 3600;
const ISSUER = "dzug";
/** Never accepted as an API token (audience dzug-api) and an API token is never a device token. */
const AUDIENCE = "dzug-device";

export interface Device {
  /** usernameKey of the account this device logged in to. */
  name: string;
  /** Random id of this device (its failure budget's key). */
  id: string;
}

export class DeviceTokens {
  readonly #key: Uint8Array;

  constructor(secret: string) {
    this.#key = new TextEncoder().encode(secret);
  }

  issue(username: string): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(usernameKey(username))
      .setJti(randomUUID())
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + DEVICE_TTL_SECONDS)
      .sign(this.#key);
  }

  /** The device a token names, or undefined when it is absent, forged, expired or not a device token. */
  async verify(token: string | undefined): Promise<Device | undefined> {
    if (!token || token.length > 2048) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ["HS256"],
        requiredClaims: ["sub", "jti", "exp"],
      });
      return { name: String(payload.sub), id: String(payload.jti) };
    } catch {
      return undefined;
    }
  }

  /** Reads the request's device token (cookie, else header) into locals(res).device. */
  reader(): RequestHandler {
    return (req, res, next) => {
      this.verify(presented(req)).then((device) => {
        if (device) locals(res).device = device;
        next();
      }, next);
    };
  }

  /** After a successful login/register: a device token for `username` unless the client has one. */
  async remember(req: Request, res: Response, username: string): Promise<void> {
    if (locals(res).device?.name === usernameKey(username)) return;
    const token = await this.issue(username);
    const secure = req.secure ? "; Secure" : "";
    res.append(
      "set-cookie",
      `${DEVICE_COOKIE}=${token}; Max-Age=${DEVICE_TTL_SECONDS}; Path=/douyin/user/; HttpOnly; SameSite=Strict${secure}`,
    );
  }
}

/** The device for `username` when the request presented one for that very account. */
export function deviceFor(res: Response, username: string): Device | undefined {
  const d = locals(res).device;
  return d && d.name === usernameKey(username) ? d : undefined;
}

function presented(req: Request): string | undefined {
  const header = req.headers[DEVICE_HEADER];
  const cookie = req.headers.cookie;
  if (cookie) {
    for (const part of cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === DEVICE_COOKIE) return part.slice(eq + 1).trim();
    }
  }
  return typeof header === "string" ? header : undefined;
}
