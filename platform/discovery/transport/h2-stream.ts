// A server-streaming call over node:http2 (the `http2` transport): the request as h2-call.ts sends it,
// then any number of length-prefixed messages and the status in the trailers. Messages are handed out
// as the reader asks for them: past a few queued ones the HTTP/2 stream is paused, so node stops
// acknowledging its DATA, the flow-control window closes and the server waits (backpressure end to
// end). Errors: the same ClientError / RichClientError / AbortError as a unary call; a status other
// than OK is thrown after the messages that came before it.
import type { ClientHttp2Stream, IncomingHttpHeaders } from "node:http2";
import { constants } from "node:http2";
import { ClientError, type Metadata, Status } from "nice-grpc";
import { decodeGrpcMessage, frame, MessageReader, statusCode } from "./grpc-wire.ts";
import { requestHeaders, streamFailure } from "./h2-call.ts";
import type { H2Session } from "./h2-session.ts";
import { notSentError } from "./not-sent.ts";
import { abortError, richError, type UnaryMethod } from "./unary-call.ts";

/** Messages queued before the stream is paused (each is one page of a list: a few hundred KiB at most). */
const HIGH_WATER = 4;

export interface StreamCallOptions {
  metadata?: Metadata;
  signal: AbortSignal;
  /** Epoch ms sent as grpc-timeout; none: the call has no deadline of its own. */
  deadline?: number;
}

/** The trailers' status as an error, or undefined for OK. */
async function statusError(path: string, trailers: IncomingHttpHeaders): Promise<unknown> {
  const code = statusCode(trailers["grpc-status"]);
  if (code === Status.OK) return undefined;
  const err = new ClientError(path, code, decodeGrpcMessage(trailers["grpc-message"]));
  const details = trailers["grpc-status-details-bin"];
  return details === undefined ? err : richError(err, Buffer.from(String(details), "base64"));
}

function openStream(h2: H2Session, method: UnaryMethod, request: unknown, options: StreamCallOptions) {
  const { path } = method;
  const s = h2.usable();
  if (s === undefined) throw notSentError(path, `No connection established (${h2.lastError || "connecting"})`);
  let body: Buffer;
  try {
    body = frame(method.requestSerialize(request));
  } catch (e) {
    throw new ClientError(path, Status.INTERNAL, `Request message serialization failure: ${e}`);
  }
  const headers = requestHeaders(path, { ...options, deadline: options.deadline ?? Number.POSITIVE_INFINITY });
  if (options.deadline === undefined) delete headers["grpc-timeout"];
  let stream: ClientHttp2Stream;
  try {
    stream = s.request(headers);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_HTTP2_GOAWAY_SESSION" || code === "ERR_HTTP2_INVALID_SESSION") {
      throw notSentError(path, `No connection established (${(e as Error).message})`);
    }
    throw new ClientError(path, Status.INTERNAL, `Invalid request headers: ${(e as Error).message}`);
  }
  h2.acquire();
  stream.end(body);
  return { s, stream };
}

export async function* h2ServerStream(
  h2: H2Session,
  method: UnaryMethod,
  request: unknown,
  options: StreamCallOptions,
): AsyncGenerator<unknown> {
  const { path } = method;
  const { signal } = options;
  if (signal.aborted) throw abortError();
  const { s, stream } = openStream(h2, method, request, options);
  const queue: Buffer[] = [];
  let httpStatus: number | undefined;
  let trailers: IncomingHttpHeaders | undefined;
  /** Set once the call is over: undefined for OK, else the error to throw after the queued messages. */
  let outcome: { error: unknown } | undefined;
  /** A local failure (abort, a bad frame): thrown at once, queued messages or not. */
  let broken: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const reader = new MessageReader(h2.options.maxReceiveMessageLength, (m) => queue.push(m));
  const onAbort = () => {
    broken ??= abortError();
    if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    notify();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  stream.on("response", (headers) => {
    httpStatus = Number(headers[":status"]);
    if (headers["grpc-status"] !== undefined) trailers = headers; // trailers-only
    const encoding = headers["grpc-encoding"]; // requestHeaders accepts gzip and deflate answers
    if (typeof encoding === "string") reader.encoding = encoding;
  });
  stream.on("trailers", (t) => {
    trailers = t;
  });
  stream.on("data", (chunk: Buffer) => {
    const why = broken === undefined ? reader.push(chunk) : undefined;
    if (why) {
      broken = new ClientError(path, why[0], why[1]);
      stream.close(constants.NGHTTP2_CANCEL);
    } else if (queue.length >= HIGH_WATER) {
      stream.pause();
    }
    notify();
  });
  stream.on("error", () => {}); // classified on close, from the stream's and the session's state
  stream.on("close", () => {
    h2.release();
    const settle = (error: unknown) => {
      outcome = { error };
      notify();
    };
    if (trailers === undefined) settle(streamFailure(path, h2, s, stream, httpStatus));
    else statusError(path, trailers).then(settle, settle);
  });
  try {
    for (;;) {
      if (broken !== undefined) throw broken;
      const next = queue.shift();
      if (next !== undefined) {
        if (queue.length < HIGH_WATER && stream.isPaused()) stream.resume();
        let message: unknown;
        try {
          message = method.responseDeserialize(next);
        } catch (e) {
          throw new ClientError(path, Status.INTERNAL, `Response message parsing error: ${(e as Error).message}`);
        }
        yield message;
        continue;
      }
      if (outcome !== undefined) {
        if (outcome.error !== undefined) throw outcome.error;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
  }
}
