// Business failures travel as gRPC status + a stable machine-readable reason (google.rpc.ErrorInfo).
import {
  type CallContext,
  ClientError,
  ServerError,
  type ServerMiddleware,
  type ServerMiddlewareCall,
  Status,
} from "nice-grpc";
import { ErrorInfo, errorDetailsServerMiddleware, RichClientError, RichServerError } from "nice-grpc-error-details";
import type { Logger } from "pino";

export const ERROR_DOMAIN = "dzug";

export const Reason = {
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  USERNAME_TAKEN: "USERNAME_TAKEN",
  INVALID_CREDENTIALS: "INVALID_CREDENTIALS",
  USER_NOT_FOUND: "USER_NOT_FOUND",
  FOLLOW_SELF: "FOLLOW_SELF",
  ALREADY_FOLLOWING: "ALREADY_FOLLOWING",
  NOT_FOLLOWING: "NOT_FOLLOWING",
  MESSAGE_SELF: "MESSAGE_SELF",
  NOT_FRIENDS: "NOT_FRIENDS",
  TOKEN_INVALID: "TOKEN_INVALID",
  TOKEN_EXPIRED: "TOKEN_EXPIRED",
  /** The server sheds this call: over its capacity right now; another try a moment later may pass. */
  OVERLOADED: "OVERLOADED",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** A failure the caller caused or may act on; anything else is an internal error. */
export class DomainError extends Error {
  override name = "DomainError";
  readonly code: Status;
  readonly reason: Reason;
  constructor(code: Status, reason: Reason, message: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

/** INVALID_ARGUMENT with its reason: the request itself is wrong. */
export function invalidArgument(message: string): DomainError {
  return new DomainError(Status.INVALID_ARGUMENT, Reason.INVALID_ARGUMENT, message);
}

/** An int64 id field must be a positive safe integer (0 is proto3's "absent"). */
export function checkId(id: number, name: string): void {
  if (!Number.isSafeInteger(id) || id <= 0) throw invalidArgument(`${name} must be a positive integer`);
}

export function toRichServerError(err: DomainError): RichServerError {
  return new RichServerError(err.code, err.message, [
    ErrorInfo.fromPartial({ reason: err.reason, domain: ERROR_DOMAIN }),
  ]);
}

/**
 * What a service answers for an error thrown while serving `path`: DomainError -> status + ErrorInfo;
 * ServerError passes through; a downstream ClientError keeps its code, not its text; anything else is
 * logged with its stack and becomes INTERNAL with a generic message (details never leave the process),
 * unless the caller cancelled (then the error is returned as is).
 */
export function toServerError(err: unknown, path: string, aborted: boolean, logger: Logger): unknown {
  if (err instanceof DomainError) return toRichServerError(err);
  if (err instanceof ServerError) return err;
  if (err instanceof ClientError) {
    logger.warn({ err, method: path }, "downstream call failed");
    return new ServerError(
      err.code,
      err.code === Status.UNAVAILABLE ? "a dependency is unavailable" : "a dependency failed",
    );
  }
  if (aborted) return err;
  logger.error({ err, method: path }, "unexpected error in handler");
  return new ServerError(Status.INTERNAL, "internal error");
}

/**
 * Sets the `grpc-status-details-bin` trailer of a RichServerError (google.rpc.Status with its details)
 * on `context`, by letting nice-grpc-error-details' own server middleware see the error: its encoding,
 * without its generator on every successful call. Services call it from platform/server-call.ts.
 */
export async function setErrorDetailsTrailer(err: RichServerError, context: CallContext): Promise<void> {
  const call = {
    method: { path: "", requestStream: false, responseStream: false, options: {} },
    requestStream: false,
    responseStream: false,
    request: undefined,
    // biome-ignore lint/correctness/useYield: the call fails with `err` before answering
    next: async function* () {
      throw err;
    },
  } as unknown as ServerMiddlewareCall<unknown, unknown>;
  await errorDetailsServerMiddleware(call, context)
    .next()
    .catch(() => undefined);
}

/**
 * Server middleware form of toServerError. Install it after nice-grpc-error-details'
 * errorDetailsServerMiddleware (services use platform/server-call.ts, which does both).
 */
export function domainErrorsMiddleware(logger: Logger): ServerMiddleware {
  return async function* domainErrors<Req, Res>(call: ServerMiddlewareCall<Req, Res>, context: CallContext) {
    try {
      return yield* call.next(call.request, context);
    } catch (err) {
      throw toServerError(err, call.method.path, context.signal.aborted, logger);
    }
  };
}

/** The stable reason of a failed call, when the server gave one. */
export function errorReason(err: unknown): string | undefined {
  if (err instanceof RichClientError) {
    for (const d of err.extra) if (d.$type === "google.rpc.ErrorInfo" && d.domain === ERROR_DOMAIN) return d.reason;
  }
  return undefined;
}
