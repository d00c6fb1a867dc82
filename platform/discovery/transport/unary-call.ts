// The balanced client's hot path without nice-grpc's middleware stack: one unary call on a grpc-js
// Client over the pool's channel, doing in one frame what three async-generator layers did per RPC
// (request id metadata, rich error details, nice-grpc's call wrapper with abort-controller-x): each
// layer added generator steps and microtask hops (docs/profiling.md). Used when no extra client
// middleware is configured (tracing off); with tracing on, the client goes through nice-grpc and its
// OpenTelemetry middleware instead.
//
// Observable behaviour is nice-grpc's: a failed call rejects with ClientError(path, code, details), or
// RichClientError with the decoded google.rpc details when the server sent them; an aborted signal
// cancels the call and rejects with an AbortError; the caller's metadata is sent, plus the current
// request id as `x-request-id` unless the caller set one.
import { type Channel, Client, credentials, Metadata as GrpcMetadata, type ServiceError } from "@grpc/grpc-js";
import { ClientError, type Metadata } from "nice-grpc";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { currentRequestId, REQUEST_ID_HEADER } from "../../request-context.ts";

/** What a unary call needs of a method: nice-grpc's normalised definition has it. */
export interface UnaryMethod {
  path: string;
  requestSerialize: (request: any) => Uint8Array;
  responseDeserialize: (bytes: Uint8Array) => unknown;
}

// grpc-js writes what a serialiser returns only when it is a Buffer.
const toBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** A grpc-js client over an existing channel (the pool's), for unaryCall. */
export function rawClient(channel: Channel): Client {
  // The address is unused with channelOverride; the channel's own target applies.
  return new Client("unused", credentials.createInsecure(), { channelOverride: channel });
}

function toGrpcMetadata(metadata: Metadata | undefined): GrpcMetadata {
  const out = new GrpcMetadata();
  if (metadata) for (const [key, values] of metadata) for (const v of values) out.add(key, v as string | Buffer);
  if (!out.get(REQUEST_ID_HEADER).length) {
    const id = currentRequestId();
    if (id !== undefined) out.set(REQUEST_ID_HEADER, id);
  }
  return out;
}

export function abortError(): Error {
  const e = new Error("The operation has been aborted");
  e.name = "AbortError"; // what abort-controller-x's isAbortError checks
  return e;
}

/**
 * nice-grpc-error-details' own decoding of the status details trailer (`details`: its bytes), run on
 * the error path only: a RichClientError, or `err` when there is nothing to decode.
 */
export async function richError(err: ClientError, details: Uint8Array | undefined): Promise<unknown> {
  if (details === undefined) return err;
  const call = {
    method: { path: err.path, requestStream: false, responseStream: false, options: {} },
    requestStream: false,
    responseStream: false,
    request: undefined,
    // biome-ignore lint/correctness/useYield: replays the failed call for the middleware
    next: async function* (_req: unknown, options: { onTrailer?: (m: Map<string, unknown>) => void }) {
      options.onTrailer?.(new Map([["grpc-status-details-bin", details]]));
      throw err;
    },
  };
  try {
    await errorDetailsClientMiddleware(call as any, {}).next();
  } catch (rich) {
    return rich;
  }
  return err;
}

/** What a flat unary call takes besides the method and request (unaryCall, h2-call.ts). */
export interface UnaryCallOptions {
  metadata?: Metadata;
  signal: AbortSignal;
  /** Epoch ms, sent as grpc-timeout. */
  deadline: number;
}

export function unaryCall(
  client: Client,
  method: UnaryMethod,
  request: unknown,
  options: UnaryCallOptions,
): Promise<unknown> {
  const { signal } = options;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    let settled = false;
    // grpc-js' makeUnaryRequest captures a stack trace (`new Error()`) on every call only to append it
    // to a failed call's error stack; the ClientError made below carries code and details, never that
    // stack. The capture was the largest single JS cost of a call (docs/profiling.md), so the call is
    // started with capture off: that touches only errors made synchronously while grpc-js starts it.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    let call: ReturnType<Client["makeUnaryRequest"]>;
    try {
      call = client.makeUnaryRequest(
        method.path,
        (r: unknown) => toBuffer(method.requestSerialize(r)),
        method.responseDeserialize,
        request,
        toGrpcMetadata(options.metadata),
        { deadline: options.deadline },
        (err: ServiceError | null, response: unknown) => {
          signal.removeEventListener("abort", onAbort);
          if (settled) return;
          settled = true;
          if (!err) return resolve(response);
          const ce = new ClientError(method.path, err.code, err.details);
          const details = err.metadata.get("grpc-status-details-bin")[0] as Buffer | undefined;
          if (details === undefined) return reject(ce);
          richError(ce, details).then(reject, reject);
        },
      );
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    const onAbort = () => {
      if (settled) return;
      settled = true;
      call.cancel();
      reject(abortError());
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
