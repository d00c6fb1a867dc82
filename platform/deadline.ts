// Deadlines end to end. A call's deadline travels as `grpc-timeout` on every hop (gateway → relation →
// user): the balanced client hands it to grpc-js, and a server runs its handler with the deadline it
// received as the current one, so the calls a handler makes inherit what is left of it.
//
// Why the detours: nice-grpc's client never passes a deadline to grpc-js (its deadline middleware only
// aborts locally, so no grpc-timeout is sent), and its server CallContext does not expose the deadline
// grpc-js parsed. So (client) a Channel wrapper gives grpc-js the current deadline when a call is
// created, and (server) the flat server (platform/grpc-server.ts) reads the deadline from the grpc-js
// call; with tracing on, when nice-grpc serves the calls, a grpc-js interceptor copies the parsed
// deadline into a metadata entry the call middleware (platform/server-call.ts) reads. The entry is
// always overwritten, so a caller cannot forge it.
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Channel,
  type ChannelInterface,
  type Deadline,
  type Metadata as GrpcMetadata,
  ServerInterceptingCall,
  type ServerInterceptor,
} from "@grpc/grpc-js";
import type { CallContext } from "nice-grpc";

/** Metadata entry (epoch ms) the server interceptor sets from grpc-timeout; internal to one process. */
export const DEADLINE_METADATA = "dzug-deadline-ms";

/** The deadline (epoch ms) of the work in progress: the call being served, or the call being made. */
const storage = new AsyncLocalStorage<number>();

export function currentDeadline(): number | undefined {
  return storage.getStore();
}

/** Runs `fn` with `epochMs` as the current deadline (an earlier current one still wins). */
export function runWithDeadline<T>(epochMs: number, fn: () => T): T {
  const outer = storage.getStore();
  return storage.run(outer === undefined ? epochMs : Math.min(outer, epochMs), fn);
}

function finite(deadline: Deadline): boolean {
  return deadline instanceof Date ? Number.isFinite(deadline.getTime()) : Number.isFinite(deadline);
}

/**
 * A channel that gives grpc-js the current deadline (runWithDeadline) for calls created without one,
 * which is every call nice-grpc makes: grpc-js then sends grpc-timeout and ends the call at it.
 */
export function deadlineChannel(inner: Channel): Channel {
  const wrapper: ChannelInterface = {
    close: () => inner.close(),
    getTarget: () => inner.getTarget(),
    getConnectivityState: (tryToConnect) => inner.getConnectivityState(tryToConnect),
    watchConnectivityState: (state, deadline, cb) => inner.watchConnectivityState(state, deadline, cb),
    getChannelzRef: () => inner.getChannelzRef(),
    createCall(method, deadline, host, parentCall, propagateFlags) {
      const current = storage.getStore();
      const effective = current !== undefined && !finite(deadline) ? current : deadline;
      return inner.createCall(method, effective, host, parentCall, propagateFlags);
    },
  };
  // grpc-js' Client uses only the Channel interface; nice-grpc's types name the implementing class.
  return wrapper as Channel;
}

/** grpc-js server interceptor: the deadline grpc-js parsed from grpc-timeout, as DEADLINE_METADATA. */
export const deadlineServerInterceptor: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata: GrpcMetadata, pass) {
          const deadline = call.getDeadline();
          if (finite(deadline)) metadata.set(DEADLINE_METADATA, String(new Date(deadline).getTime()));
          else metadata.remove(DEADLINE_METADATA);
          pass(metadata);
        },
      });
    },
  });

/** The deadline (epoch ms) of the call being served, as the interceptor recorded it, or undefined. */
export function callDeadline(metadata: CallContext["metadata"]): number | undefined {
  const at = Number(metadata.get(DEADLINE_METADATA));
  return Number.isFinite(at) && at > 0 ? at : undefined;
}
