// The request id of the call being served, carried across async work (AsyncLocalStorage) and across
// services (gRPC metadata `x-request-id`): every log line written while serving a call names it.
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type CallContext,
  type ClientMiddleware,
  Metadata,
  type ServerMiddleware,
  type ServerMiddlewareCall,
} from "nice-grpc";

export const REQUEST_ID_HEADER = "x-request-id";

/** The process-wide carrier of request ids; explicit here rather than hidden in another module. */
const storage = new AsyncLocalStorage<string>();

export function currentRequestId(): string | undefined {
  return storage.getStore();
}

/** Server side: the caller's `x-request-id` becomes the current request id while the call runs. */
export function requestIdServerMiddleware(): ServerMiddleware {
  return async function* requestIdServer<Req, Res>(call: ServerMiddlewareCall<Req, Res>, context: CallContext) {
    const id = context.metadata.get(REQUEST_ID_HEADER);
    if (typeof id !== "string" || id === "") return yield* call.next(call.request, context);
    // Bind the id to the handler's async work: run the generator's steps inside the store.
    const inner = storage.run(id, () => call.next(call.request, context));
    for (;;) {
      const step = await storage.run(id, () => inner.next());
      if (step.done) return step.value;
      yield step.value;
    }
  };
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
