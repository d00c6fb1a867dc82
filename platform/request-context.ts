// The request id of the call being served, carried across async work (AsyncLocalStorage) and across
// services (gRPC metadata `x-request-id`): every log line written while serving a call names it.
import { AsyncLocalStorage } from "node:async_hooks";
import { type ClientMiddleware, Metadata } from "nice-grpc";

export const REQUEST_ID_HEADER = "x-request-id";
/**
 * register/login metadata from the gateway to the user service: the client (its grouped address) and
 * "1" when the login comes from a device that logged in to this account before (gateway/device.ts).
 * The user service queues password checks by them (platform/bulkhead.ts); only the gateway calls it.
 */
export const CLIENT_KEY_HEADER = "x-dzug-client";
export const DEVICE_PRIORITY_HEADER = "x-dzug-device-priority";

/** The process-wide carrier of request ids; explicit here rather than hidden in another module. */
const storage = new AsyncLocalStorage<string>();

export function currentRequestId(): string | undefined {
  return storage.getStore();
}

/** Runs `fn` (and the async work it starts) with `id` as the current request id. */
export function runWithRequestId<T>(id: string, fn: () => T): T {
  return storage.run(id, fn);
}

/** Client side: outgoing calls carry the current request id, unless the caller set one. */
export function requestIdClientMiddleware(): ClientMiddleware {
  return async function* requestIdClient(call, options) {
    const id = storage.getStore();
    if (id === undefined || options.metadata?.has(REQUEST_ID_HEADER)) return yield* call.next(call.request, options);
    const metadata = Metadata(options.metadata).set(REQUEST_ID_HEADER, id);
    return yield* call.next(call.request, { ...options, metadata });
  } as ClientMiddleware;
}
