// Request parameters: from the query and the body (urlencoded, multipart fields, JSON object), read
// and validated with the route's zod object. The body wins over the query for the same key; within
// one source a repeated key must repeat the same value. A missing or bad parameter is a 400 naming it.
import type { Request } from "express";
import { z } from "zod";
import {
  loginProblem,
  PASSWORD_MAX,
  PASSWORD_MIN,
  passwordProblem,
  USERNAME_MAX,
  USERNAME_MIN,
  usernameProblem,
} from "../platform/credentials.ts";
import { CONTENT_MAX, CONTENT_MIN, contentProblem } from "../platform/message-content.ts";
import { badParameter, RequestError, StatusCode } from "./errors.ts";

type Bag = Record<string, unknown>;

function single(name: string, v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  if (v.length === 0) return undefined;
  const first = v[0];
  for (const x of v) if (x !== first) throw badParameter(`invalid parameter ${name}: given several different values`);
  return first;
}

export class Params {
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

/**
 * Reads the schema's keys and validates them: a missing (absent or "") parameter or a bad one is a
 * 400 naming it. An empty string counts as absent (forms send `user_id=` for "not given").
 */
export function parseParams<S extends z.ZodObject>(schema: S, p: Params): z.infer<S> {
  const input: Bag = {};
  for (const n of Object.keys(schema.shape)) {
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

/**
 * `Authorization: Bearer <token>` when the header is present, else the `token` parameter; absent ->
 * 400 (a missing required parameter). The header wins: a query string is copied into logs, histories
 * and Referer headers, and a link someone was sent (`?token=<theirs>`) must not override the client's
 * own credentials.
 */
export function tokenOf(req: Request, p: Params): string {
  const h = req.headers.authorization;
  if (h !== undefined && h !== "") {
    const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(h);
    if (!m?.[1]) throw badParameter("invalid Authorization header: expected Bearer <token>");
    return m[1];
  }
  const t = p.get("token");
  if (typeof t === "string" && t !== "") return t;
  if (t !== undefined && t !== "" && t !== null) throw badParameter("invalid parameter token: must be a string");
  throw badParameter("missing parameter token");
}

// --- parameter types of the contract (the OpenAPI document is generated from these)

/** A string checked by one rule of platform/credentials.ts; the lengths are for the OpenAPI document. */
const checked = (rule: (s: string) => string | undefined, minLength: number, maxLength: number) =>
  z
    .string({ error: "must be a string" })
    .superRefine((s, ctx) => {
      const why = rule(s);
      if (why) ctx.addIssue({ code: "custom", message: why });
    })
    .meta({ minLength, maxLength });

/** A new account's username (RFC 8265, as the user service checks it) and password. */
export const newUsername = checked(usernameProblem, USERNAME_MIN, USERNAME_MAX);
export const newPassword = checked(passwordProblem, PASSWORD_MIN, PASSWORD_MAX);
/** Login fields are only bounded: a wrong one is the same business failure as a wrong password. */
export const loginUsername = checked((s) => loginProblem("username", s), 1, USERNAME_MAX);
export const loginPassword = checked((s) => loginProblem("password", s), 1, PASSWORD_MAX);

/** A chat message's text (platform/message-content.ts). */
export const messageContent = checked(contentProblem, CONTENT_MIN, CONTENT_MAX);

/** int64 id: a JSON number or a decimal string ("42"), 1..2^53-1. */
export const id = z
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

/** A small enumerated integer (e.g. action_type), as a number or a decimal string. */
export const oneOf = <const V extends readonly [number, ...number[]]>(values: V, meaning: string) =>
  z
    .union([z.number(), z.string().regex(/^\d+$/, `must be ${meaning}`)], { error: `must be ${meaning}` })
    .transform(Number)
    .pipe(z.union(values.map((v) => z.literal(v)) as [z.ZodLiteral<V[number]>], { error: `must be ${meaning}` }));

/** int64 milliseconds since the epoch, 0 or more (a number or a decimal string). */
export const epochMs = z
  .union([z.number({ error: "must be an integer" }), z.string().regex(/^\d+$/, "must be an integer")], {
    error: "must be an integer",
  })
  .transform(Number)
  .pipe(
    z.number().int("must be an integer").min(0, "must be 0 or more").max(Number.MAX_SAFE_INTEGER, "is out of range"),
  );
