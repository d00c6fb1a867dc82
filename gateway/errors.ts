// The one table mapping failures to HTTP status + douyin status_code + status_msg (docs/gateway.md).
// Business failures of a well-formed request answer HTTP 200 with a distinct non-zero status_code;
// malformed requests 400 (413 too large); no instance reachable 503; deadline 504; anything else 500
// with a generic message (the details go to the log only).
import { ClientError, Status } from "nice-grpc";
import { DomainError, errorReason, type Reason } from "../platform/errors.ts";

export interface Failure {
  http: number;
  statusCode: number;
  statusMsg: string;
  /** true when the failure is ours (500): log it with its details at error level. */
  internal?: boolean;
  /** Sent as Retry-After (429, and 503 when a service shed the call). */
  retryAfterSeconds?: number;
}

/** douyin status_code values. 0 is success; every failure has its own code. */
export const StatusCode = {
  OK: 0,
  // malformed requests (HTTP 4xx)
  INVALID_PARAMETER: 40001,
  BAD_BODY: 40002,
  /** Rejected by Node's HTTP parser (answered from server.ts' clientError handler). */
  BAD_HTTP: 40003,
  REQUEST_TIMEOUT: 40801,
  HEADERS_TOO_LARGE: 43101,
  BODY_TOO_LARGE: 41301,
  NOT_FOUND: 40401,
  METHOD_NOT_ALLOWED: 40501,
  TOO_MANY_REQUESTS: 42901,
  // business failures (HTTP 200)
  USERNAME_TAKEN: 10001,
  INVALID_CREDENTIALS: 10002,
  TOKEN_INVALID: 10003,
  TOKEN_EXPIRED: 10004,
  USER_NOT_FOUND: 10005,
  FOLLOW_SELF: 10006,
  ALREADY_FOLLOWING: 10007,
  NOT_FOLLOWING: 10008,
  MESSAGE_SELF: 10009,
  NOT_FRIENDS: 10010,
  // the system (HTTP 5xx)
  INTERNAL: 50001,
  UNAVAILABLE: 50301,
  OVERLOADED: 50302,
  DEADLINE_EXCEEDED: 50401,
} as const;

/**
 * Reason (google.rpc.ErrorInfo, domain dzug) -> answer. Looked up before the gRPC code. Keyed by the
 * `Reason` type: a reason added in platform/errors.ts without an answer here fails type checking.
 */
const byReason: Record<Reason, Failure> = {
  USERNAME_TAKEN: { http: 200, statusCode: StatusCode.USERNAME_TAKEN, statusMsg: "username is already taken" },
  // One message for an unknown user and a wrong password: nobody can probe which usernames exist.
  INVALID_CREDENTIALS: {
    http: 200,
    statusCode: StatusCode.INVALID_CREDENTIALS,
    statusMsg: "wrong username or password",
  },
  TOKEN_INVALID: { http: 200, statusCode: StatusCode.TOKEN_INVALID, statusMsg: "token is invalid" },
  TOKEN_EXPIRED: { http: 200, statusCode: StatusCode.TOKEN_EXPIRED, statusMsg: "token has expired" },
  USER_NOT_FOUND: { http: 200, statusCode: StatusCode.USER_NOT_FOUND, statusMsg: "user not found" },
  FOLLOW_SELF: { http: 200, statusCode: StatusCode.FOLLOW_SELF, statusMsg: "you cannot follow yourself" },
  ALREADY_FOLLOWING: { http: 200, statusCode: StatusCode.ALREADY_FOLLOWING, statusMsg: "already following this user" },
  NOT_FOLLOWING: { http: 200, statusCode: StatusCode.NOT_FOLLOWING, statusMsg: "not following this user" },
  MESSAGE_SELF: { http: 200, statusCode: StatusCode.MESSAGE_SELF, statusMsg: "you cannot send a message to yourself" },
  NOT_FRIENDS: {
    http: 200,
    statusCode: StatusCode.NOT_FRIENDS,
    statusMsg: "you can send messages only to friends (users who follow you back)",
  },
  INVALID_ARGUMENT: { http: 400, statusCode: StatusCode.INVALID_PARAMETER, statusMsg: "invalid parameter" },
  OVERLOADED: {
    http: 503,
    statusCode: StatusCode.OVERLOADED,
    statusMsg: "server busy, try again shortly",
    retryAfterSeconds: 1,
  },
};

const UNAVAILABLE: Failure = {
  http: 503,
  statusCode: StatusCode.UNAVAILABLE,
  statusMsg: "service temporarily unavailable, try again",
};
const DEADLINE: Failure = {
  http: 504,
  statusCode: StatusCode.DEADLINE_EXCEEDED,
  statusMsg: "request timed out, try again",
};
export const INTERNAL: Failure = {
  http: 500,
  statusCode: StatusCode.INTERNAL,
  statusMsg: "internal error",
  internal: true,
};

/** gRPC code without a known reason -> answer. */
function byCode(code: Status): Failure {
  switch (code) {
    case Status.INVALID_ARGUMENT:
      return { http: 400, statusCode: StatusCode.INVALID_PARAMETER, statusMsg: "invalid parameter" };
    case Status.UNAVAILABLE:
      return UNAVAILABLE;
    case Status.DEADLINE_EXCEEDED:
      return DEADLINE;
    case Status.RESOURCE_EXHAUSTED:
      return byReason.OVERLOADED!;
    default:
      return INTERNAL;
  }
}

/** A request the gateway itself rejects before calling anything (HTTP 4xx). */
export class RequestError extends Error {
  override name = "RequestError";
  readonly http: number;
  readonly statusCode: number;
  readonly retryAfterSeconds: number | undefined;
  constructor(http: number, statusCode: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.http = http;
    this.statusCode = statusCode;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** 429: this client (or this username) made too many attempts; `retryAfterSeconds` until the next is allowed. */
export function tooManyRequests(what: string, retryAfterSeconds: number): RequestError {
  return new RequestError(
    429,
    StatusCode.TOO_MANY_REQUESTS,
    `too many ${what}; retry after ${retryAfterSeconds} s`,
    retryAfterSeconds,
  );
}

/** 503: this gateway is overloaded (platform/overload.ts) and refused the request without working on it. */
export function overloaded(): RequestError {
  const f = byReason.OVERLOADED as Failure;
  return new RequestError(f.http, f.statusCode, f.statusMsg, f.retryAfterSeconds);
}

export function badParameter(message: string): RequestError {
  return new RequestError(400, StatusCode.INVALID_PARAMETER, message);
}

export function tooLarge(limit: number): RequestError {
  return new RequestError(413, StatusCode.BODY_TOO_LARGE, `request body too large (limit ${limit} bytes)`);
}

interface BodyParserError {
  type?: string;
  status?: number;
  code?: string;
  name?: string;
}

const MULTER_TOO_LARGE = new Set([
  "LIMIT_FIELD_VALUE",
  "LIMIT_FIELD_COUNT",
  "LIMIT_PART_COUNT",
  "LIMIT_FIELD_KEY",
  "LIMIT_FILE_SIZE",
]);

/** Maps anything thrown on the way to an answer. */
/** A reason from the wire is one of ours (a newer service may send one this gateway does not know). */
function isReason(reason: string | undefined): reason is Reason {
  return reason !== undefined && Object.hasOwn(byReason, reason);
}

export function mapError(err: unknown, bodyLimitBytes: number): Failure {
  if (err instanceof RequestError) {
    const f: Failure = { http: err.http, statusCode: err.statusCode, statusMsg: err.message };
    if (err.retryAfterSeconds !== undefined) f.retryAfterSeconds = err.retryAfterSeconds;
    return f;
  }
  if (err instanceof DomainError) return byReason[err.reason] ?? byCode(err.code);
  if (err instanceof ClientError) {
    const reason = errorReason(err);
    const known = (isReason(reason) ? byReason[reason] : undefined) ?? byCode(err.code);
    // A service's INVALID_ARGUMENT carries a deliberate, client-facing message (DomainError); keep it.
    if (known.http === 400 && err.details) return { ...known, statusMsg: `invalid parameter: ${err.details}` };
    return known;
  }
  const e = (err ?? {}) as BodyParserError;
  // body-parser (express.json / express.urlencoded)
  if (e.type === "entity.too.large")
    return {
      http: 413,
      statusCode: StatusCode.BODY_TOO_LARGE,
      statusMsg: `request body too large (limit ${bodyLimitBytes} bytes)`,
    };
  if (e.type === "entity.parse.failed")
    return { http: 400, statusCode: StatusCode.BAD_BODY, statusMsg: "request body is not valid JSON" };
  if (e.type === "encoding.unsupported" || e.type === "charset.unsupported")
    return { http: 400, statusCode: StatusCode.BAD_BODY, statusMsg: "unsupported body encoding or charset" };
  if (e.type === "parameters.too.many")
    return { http: 413, statusCode: StatusCode.BODY_TOO_LARGE, statusMsg: "too many form fields" };
  if (e.type === "request.aborted" || e.type === "request.size.invalid" || e.type === "stream.encoding.set")
    return { http: 400, statusCode: StatusCode.BAD_BODY, statusMsg: "request body could not be read" };
  // multer
  if (e.name === "MulterError" && typeof e.code === "string") {
    if (MULTER_TOO_LARGE.has(e.code))
      return {
        http: 413,
        statusCode: StatusCode.BODY_TOO_LARGE,
        statusMsg: "multipart form too large (too many or too long fields)",
      };
    if (e.code === "LIMIT_FILE_COUNT" || e.code === "LIMIT_UNEXPECTED_FILE")
      return { http: 400, statusCode: StatusCode.BAD_BODY, statusMsg: "file uploads are not accepted" };
    return { http: 400, statusCode: StatusCode.BAD_BODY, statusMsg: "malformed multipart form" };
  }
  // busboy: malformed multipart ("Unexpected end of form", "Malformed part header", boundary missing)
  if (
    err instanceof Error &&
    /^(Unexpected end of form|Malformed|Multipart: Boundary not found|Unsupported content type)/.test(err.message)
  ) {
    return { http: 400, statusCode: StatusCode.BAD_BODY, statusMsg: "malformed multipart form" };
  }
  if (typeof e.status === "number" && e.status >= 400 && e.status < 500)
    return { http: 400, statusCode: StatusCode.BAD_BODY, statusMsg: "malformed request" };
  return INTERNAL;
}
