// Calls the transport knows never reached a server (no connection, REFUSED_STREAM, past a GOAWAY's
// last stream): the balanced client retries them on another instance whatever the method
// (client.ts, failedBeforeServer). The http2 transport marks its errors here; grpc-js does not say,
// so its errors are still told apart by their details (client.ts, NOT_SENT_DETAILS).
import { ClientError, Status } from "nice-grpc";

const notSent = new WeakSet<ClientError>();

/** UNAVAILABLE for a call that was never sent to a server. */
export function notSentError(path: string, details: string): ClientError {
  const err = new ClientError(path, Status.UNAVAILABLE, details);
  notSent.add(err);
  return err;
}

export function markedNotSent(err: ClientError): boolean {
  return notSent.has(err);
}
