// The balanced call's rules, shared by unary calls (client.ts) and server streams (stream-call.ts): the
// deadline of a call, and when a failed attempt may go to another instance.
//
// Retry rules (UNAVAILABLE only; every other status is the server's answer and is returned as is):
// - The call never reached a server: always retried. The http2 transport knows it and marks the error
//   (not-sent.ts: no connection, REFUSED_STREAM, a stream past a GOAWAY's last one). grpc-js strips
//   its internal "progress" from the status, so we tell from the details it sets on those paths (see
//   NOT_SENT_DETAILS):
//   "No connection established" (pick failed: channel in TRANSIENT_FAILURE, e.g. ECONNREFUSED),
//   "Stream refused by server" (HTTP/2 REFUSED_STREAM, e.g. GOAWAY during a server's shutdown),
//   "Channel closed before call started".
// - Otherwise (e.g. "Connection dropped" after the request was written): retried only when the
//   method's idempotencyLevel is NO_SIDE_EFFECTS or IDEMPOTENT.
// A retry goes to an instance not tried yet for this call; when none is left, the last error is thrown.
import { ClientError, Status } from "nice-grpc";
import { currentDeadline } from "../deadline.ts";
import { markedNotSent } from "./transport/not-sent.ts";

/**
 * Per-call deadline, as nice-grpc's deadline middleware means it: a Date, or a number of milliseconds
 * from now. The client's own deadlineMs applies too; the earlier one wins.
 */
export interface DeadlineCallOptions {
  deadline?: Date | number;
}

/**
 * The absolute time (epoch ms) a call given `deadline` must end by: at the latest `defaultMs` from now,
 * and never after the deadline of the call being served (`inherited`, platform/deadline.ts).
 */
export function deadlineAt(
  deadline: Date | number | undefined,
  defaultMs: number,
  now = Date.now(),
  inherited = currentDeadline(),
): number {
  let at = now + defaultMs;
  if (deadline !== undefined) at = Math.min(at, deadline instanceof Date ? deadline.getTime() : now + deadline);
  return inherited === undefined ? at : Math.min(at, inherited);
}

export const NOT_SENT_DETAILS = [
  "No connection established",
  "Stream refused by server",
  "Channel closed before call started",
] as const;

/** Status codes that carry a server's business answer, not a failure to reach or run the call. */
export const BUSINESS_CODES: ReadonlySet<Status> = new Set([
  Status.INVALID_ARGUMENT,
  Status.NOT_FOUND,
  Status.ALREADY_EXISTS,
  Status.PERMISSION_DENIED,
  Status.FAILED_PRECONDITION,
  Status.OUT_OF_RANGE,
  Status.UNAUTHENTICATED,
]);

/** True when an error says the call never reached a server, so any method may be retried. */
export function failedBeforeServer(err: ClientError): boolean {
  if (err.code !== Status.UNAVAILABLE) return false;
  return markedNotSent(err) || NOT_SENT_DETAILS.some((d) => err.details.includes(d));
}

export function isRetryable(err: unknown, idempotent: boolean): boolean {
  if (!(err instanceof ClientError) || err.code !== Status.UNAVAILABLE) return false;
  return idempotent || failedBeforeServer(err);
}
