// gRPC over HTTP/2 as the wire carries it (github.com/grpc/grpc, doc/PROTOCOL-HTTP2.md), for the http2
// transport (h2-call.ts): length-prefixed messages, grpc-timeout, metadata as headers, the status
// mapping of a non-200 HTTP answer. Requests go uncompressed; answers may come compressed with gzip
// or deflate (what ACCEPT_ENCODING offers; a server picks one per call and names it in grpc-encoding).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import { gunzipSync, inflateSync } from "node:zlib";
import { type Metadata, Status } from "nice-grpc";

/** One length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, the bytes. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** grpc-accept-encoding of every request: the answer encodings MessageReader decodes. */
export const ACCEPT_ENCODING = "identity,deflate,gzip";

/** A message of `length` bytes may be sent under `max` (grpc.max_send_message_length; -1: no limit). */
export function sendTooLarge(length: number, max: number): [Status, string] | undefined {
  return max >= 0 && length > max
    ? [Status.RESOURCE_EXHAUSTED, `Sent message larger than max (${length} vs. ${max})`]
    : undefined;
}

/**
 * Why an answer's headers are not gRPC, or undefined. A 200 answer whose content-type is not
 * application/grpc[+proto|;…] is not from a gRPC server: UNKNOWN, as the HTTP-to-gRPC status mapping
 * gives a 200 (doc/http-grpc-status-mapping.md).
 */
export function notGrpcContentType(headers: IncomingHttpHeaders): [Status, string] | undefined {
  const type = headers["content-type"];
  if (typeof type === "string" && /^application\/grpc([+;]|$)/.test(type)) return undefined;
  return [Status.UNKNOWN, `Invalid content-type: ${type === undefined ? "none" : String(type)}`];
}

const TIMEOUT_UNITS: ReadonlyArray<[unit: string, ms: number]> = [
  ["m", 1],
  ["S", 1_000],
  ["M", 60_000],
  ["H", 3_600_000],
];

/** grpc-timeout for `ms` from now: at most 8 digits, rounded up (as grpc-js writes it). */
export function grpcTimeout(ms: number): string {
  const t = Math.max(0, ms);
  for (const [unit, factor] of TIMEOUT_UNITS) {
    const amount = Math.ceil(t / factor);
    if (amount < 1e8) return `${amount}${unit}`;
  }
  return "99999999H";
}

/** The gRPC code of a non-200 HTTP status (doc/http-grpc-status-mapping.md). */
export function statusOfHttp(httpStatus: number): Status {
  switch (httpStatus) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

/** grpc-message is percent-encoded UTF-8; a malformed one is shown as received. */
export function decodeGrpcMessage(value: IncomingHttpHeaders[string]): string {
  if (value === undefined) return "";
  const s = Array.isArray(value) ? value.join(",") : value;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A grpc-status value as a known code; anything else is UNKNOWN. */
export function statusCode(value: IncomingHttpHeaders[string]): Status {
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 16 ? (n as Status) : Status.UNKNOWN;
}

/** The caller's metadata as request headers: -bin values base64 (several joined by commas). */
export function metadataHeaders(metadata: Metadata | undefined, into: OutgoingHttpHeaders): OutgoingHttpHeaders {
  if (metadata === undefined) return into;
  for (const [key, values] of metadata) {
    if (values.length === 0) continue;
    if (key.endsWith("-bin")) {
      into[key] = values.map((v) => Buffer.from(v as Uint8Array).toString("base64")).join(",");
    } else {
      into[key] = values.length === 1 ? String(values[0]) : values.map(String);
    }
  }
  return into;
}

/**
 * Reassembles the response's length-prefixed messages from DATA chunks (a message may span many
 * chunks); a unary answer has exactly one. Bounded by the configured max receive length, checked on
 * the prefix, before the bytes are buffered.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly max: number;
  private readonly onMessage: ((message: Buffer) => void) | undefined;
  /** The answer's grpc-encoding (from its headers): how a message flagged compressed is decoded. */
  encoding: string | undefined;
  message: Buffer | undefined;
  count = 0;

  /** `onMessage`: a server stream's reader, given every message (any number of them) as it completes. */
  constructor(maxLength: number, onMessage?: (message: Buffer) => void) {
    this.max = maxLength;
    this.onMessage = onMessage;
  }

  /** Adds a chunk; returns why the call must stop, or undefined. */
  push(chunk: Buffer): [Status, string] | undefined {
    if (this.buffered === 0 && chunk.length >= 5 && chunk.length === 5 + chunk.readUInt32BE(1)) {
      return this.take(chunk); // the common case: one whole message in one chunk
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 5) {
      let head = this.chunks[0] as Buffer;
      if (head.length < 5) {
        head = Buffer.concat(this.chunks, this.buffered);
        this.chunks = [head];
      }
      const length = head.readUInt32BE(1);
      if (length > this.max) return this.tooLarge(length);
      if (this.buffered < 5 + length) return undefined;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.buffered);
      const stop = this.take(all.subarray(0, 5 + length));
      if (stop) return stop;
      const rest = all.subarray(5 + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return undefined;
  }

  private take(framed: Buffer): [Status, string] | undefined {
    const length = framed.length - 5;
    if (length > this.max) return this.tooLarge(length);
    let message = framed.subarray(5);
    if (framed[0] !== 0) {
      const decoded = this.decompress(message);
      if (!Buffer.isBuffer(decoded)) return decoded;
      message = decoded;
    }
    if (this.onMessage) {
      this.count++;
      this.onMessage(message);
      return undefined;
    }
    if (++this.count > 1) return [Status.UNIMPLEMENTED, "Too many responses received"];
    this.message = message;
    return undefined;
  }

  /** A compressed message in the answer's grpc-encoding, bounded by the max receive length decoded. */
  private decompress(message: Buffer): Buffer | [Status, string] {
    const inflate = this.encoding === "gzip" ? gunzipSync : this.encoding === "deflate" ? inflateSync : undefined;
    if (inflate === undefined) {
      const named =
        this.encoding === undefined || this.encoding === "identity"
          ? "no compression was negotiated"
          : `grpc-encoding ${this.encoding} is not supported`;
      return [Status.INTERNAL, `Compressed message received, but ${named}`];
    }
    try {
      return inflate(message, { maxOutputLength: Math.max(1, this.max) });
    } catch (e) {
      if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
        return [Status.RESOURCE_EXHAUSTED, `Received message that decompresses to a size larger than ${this.max}`];
      }
      return [Status.INTERNAL, `Failed to decompress the message (${this.encoding}): ${(e as Error).message}`];
    }
  }

  private tooLarge(length: number): [Status, string] {
    return [Status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${this.max})`];
  }
}
