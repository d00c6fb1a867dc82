// The flat path's unary call over node:http2 (the `http2` transport): the same contract as unaryCall
// (unary-call.ts) — ClientError / RichClientError, AbortError on abort, the caller's metadata plus the
// current request id — without grpc-js' client between the caller and the HTTP/2 stream (its per-call
// cost is ~3× a bare HTTP/2 request carrying the same frame: docs/benchmarks.md, the cost floor).
//
// One call: HEADERS (POST, :path, content-type application/grpc, te trailers, grpc-timeout, user-agent,
// metadata), one length-prefixed message and END_STREAM; the answer: HTTP 200, DATA (one message),
// trailers with grpc-status, grpc-message and grpc-status-details-bin, or all of it in the headers
// (trailers-only). What the transport knows never reached the server is marked (not-sent.ts).
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { ClientError, Status } from "nice-grpc";
import pkg from "../../../package.json" with { type: "json" };
import { currentRequestId, REQUEST_ID_HEADER } from "../../request-context.ts";
import {
  ACCEPT_ENCODING,
  decodeGrpcMessage,
  frame,
  grpcTimeout,
  MessageReader,
  metadataHeaders,
  notGrpcContentType,
  sendTooLarge,
  statusCode,
  statusOfHttp,
} from "./grpc-wire.ts";
import { type H2Session, refusedByGoaway } from "./h2-session.ts";
import { notSentError } from "./not-sent.ts";
import { abortError, richError, type UnaryCallOptions, type UnaryMethod } from "./unary-call.ts";

const USER_AGENT = `dzug-http2/${pkg.version} (node ${process.versions.node})`;
const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = constants;
/** setTimeout's longest delay; a later deadline is still sent in full as grpc-timeout. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ignore = () => {};

export function requestHeaders(path: string, options: UnaryCallOptions): OutgoingHttpHeaders {
  const h = metadataHeaders(options.metadata, {});
  if (h[REQUEST_ID_HEADER] === undefined) {
    const id = currentRequestId();
    if (id !== undefined) h[REQUEST_ID_HEADER] = id;
  }
  // Set last: the caller's metadata cannot replace them (node puts the pseudo-headers first).
  h[":method"] = "POST";
  h[":path"] = path;
  h["content-type"] = "application/grpc";
  h.te = "trailers";
  h["grpc-accept-encoding"] = ACCEPT_ENCODING;
  h["grpc-timeout"] = grpcTimeout(options.deadline - Date.now());
  h["user-agent"] = USER_AGENT;
  return h;
}

/** How a stream that ended without a gRPC status failed, as grpc-js reports the same cases. */
export function streamFailure(
  path: string,
  h2: H2Session,
  s: ClientHttp2Session,
  stream: ClientHttp2Stream,
  httpStatus: number | undefined,
): ClientError {
  if (httpStatus !== undefined && httpStatus !== 200) {
    return new ClientError(path, statusOfHttp(httpStatus), `Received HTTP status code ${httpStatus}`);
  }
  const rst = stream.rstCode;
  // No stream id: the connection never came up, so the HEADERS were never written.
  if (stream.id === undefined) return notSentError(path, `No connection established (${h2.lastError || "closed"})`);
  if (rst === NGHTTP2_REFUSED_STREAM || refusedByGoaway(s, stream.id)) {
    return notSentError(path, "Stream refused by server");
  }
  if (s.destroyed) return new ClientError(path, Status.UNAVAILABLE, `Connection dropped (${h2.lastError || "closed"})`);
  switch (rst) {
    case NGHTTP2_NO_ERROR:
      return new ClientError(path, Status.INTERNAL, "Received RST_STREAM with code 0 (Call ended without gRPC status)");
    case NGHTTP2_CANCEL:
      return new ClientError(path, Status.CANCELLED, "Call cancelled");
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return new ClientError(path, Status.RESOURCE_EXHAUSTED, "Bandwidth exhausted or memory limit exceeded");
    default:
      return new ClientError(path, Status.INTERNAL, `Received RST_STREAM with code ${rst}`);
  }
}

/** The call's outcome from its gRPC status (trailers, or the headers of a trailers-only answer). */
function settleWithStatus(
  method: UnaryMethod,
  trailers: IncomingHttpHeaders,
  reader: MessageReader,
  resolve: (v: unknown) => void,
  reject: (e: unknown) => void,
): void {
  const code = statusCode(trailers["grpc-status"]);
  if (code !== Status.OK) {
    const err = new ClientError(method.path, code, decodeGrpcMessage(trailers["grpc-message"]));
    const details = trailers["grpc-status-details-bin"];
    if (details === undefined) reject(err);
    else richError(err, Buffer.from(String(details), "base64")).then(reject, reject);
  } else if (reader.message === undefined) {
    reject(new ClientError(method.path, Status.UNIMPLEMENTED, "No message received"));
  } else {
    let response: unknown;
    try {
      response = method.responseDeserialize(reader.message);
    } catch (e) {
      reject(new ClientError(method.path, Status.INTERNAL, `Response message parsing error: ${(e as Error).message}`));
      return;
    }
    resolve(response);
  }
}

export function h2UnaryCall(
  h2: H2Session,
  method: UnaryMethod,
  request: unknown,
  options: UnaryCallOptions,
): Promise<unknown> {
  const { path } = method;
  const { signal } = options;
  if (signal.aborted) return Promise.reject(abortError());
  const s = h2.usable();
  if (s === undefined) {
    return Promise.reject(notSentError(path, `No connection established (${h2.lastError || "connecting"})`));
  }
  let body: Buffer;
  let stream: ClientHttp2Stream;
  try {
    body = frame(method.requestSerialize(request));
  } catch (e) {
    return Promise.reject(new ClientError(path, Status.INTERNAL, `Request message serialization failure: ${e}`));
  }
  const tooLarge = sendTooLarge(body.length - 5, h2.options.maxSendMessageLength);
  if (tooLarge) return Promise.reject(new ClientError(path, tooLarge[0], tooLarge[1]));
  try {
    stream = s.request(requestHeaders(path, options));
  } catch (e) {
    const code = (e as { code?: string }).code;
    // A GOAWAY arrived or the session is closing: no stream was created.
    if (code === "ERR_HTTP2_GOAWAY_SESSION" || code === "ERR_HTTP2_INVALID_SESSION") {
      return Promise.reject(notSentError(path, `No connection established (${(e as Error).message})`));
    }
    return Promise.reject(new ClientError(path, Status.INTERNAL, `Invalid request headers: ${(e as Error).message}`));
  }
  h2.acquire();
  return new Promise((resolve, reject) => {
    let settled = false;
    let httpStatus: number | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    const reader = new MessageReader(h2.options.maxReceiveMessageLength);
    const stop = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
      reject(err);
    };
    const timer = setTimeout(
      () => stop(new ClientError(path, Status.DEADLINE_EXCEEDED, "Deadline exceeded")),
      Math.min(MAX_TIMER_MS, Math.max(0, options.deadline - Date.now())),
    );
    const onAbort = () => stop(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    stream.on("response", (headers) => {
      httpStatus = Number(headers[":status"]);
      if (headers["grpc-status"] !== undefined) {
        trailers = headers; // trailers-only
        return;
      }
      if (httpStatus !== 200) return; // mapped from the HTTP status on close
      const notGrpc = notGrpcContentType(headers);
      if (notGrpc) {
        stop(new ClientError(path, notGrpc[0], notGrpc[1]));
        return;
      }
      const encoding = headers["grpc-encoding"];
      if (typeof encoding === "string") reader.encoding = encoding;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (chunk: Buffer) => {
      const why = settled ? undefined : reader.push(chunk);
      if (why) stop(new ClientError(path, why[0], why[1]));
    });
    stream.on("error", ignore); // classified on close, from the stream's and the session's state
    stream.on("close", () => {
      h2.release();
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (trailers !== undefined) settleWithStatus(method, trailers, reader, resolve, reject);
      else reject(streamFailure(path, h2, s, stream, httpStatus));
    });
    stream.end(body);
  });
}
