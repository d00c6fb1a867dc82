// Recommended etcd3 client options for processes that use discovery.
//
// etcd3 v1.1.2 re-attaches its watch stream after an error with cockatiel's ExponentialBackoff
// (128 ms .. 30 s) and never clears that timer on close(): after an etcd outage a watch (e.g. the
// registrar's watch on its own key) may resume only after up to 30 s, and the pending timer keeps
// a closing process alive as long. A short capped backoff avoids both.
import type { IOptions } from "etcd3";
import { type BackoffOptions, backoffDelay } from "../backoff.ts";

/** A structural cockatiel IBackoff over platform/backoff.ts: jittered exponential, 100 ms capped at 2 s. */
export function watchBackoff(
  opts: BackoffOptions = { initialMs: 100, maxMs: 2_000 },
  attempt = 0,
): { readonly duration: number; next(): ReturnType<typeof watchBackoff> } {
  return { duration: backoffDelay(opts, attempt), next: () => watchBackoff(opts, attempt + 1) };
}

/** Etcd3 constructor options: endpoints, dial timeout, a short watch re-attach backoff, gRPC keepalive. */
export function etcdClientOptions(endpoints: string | string[], dialTimeoutMs = 3_000): IOptions {
  return {
    hosts: endpoints,
    dialTimeout: dialTimeoutMs,
    faultHandling: { watchBackoff: watchBackoff() as never },
    grpcOptions: {
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
    },
  };
}
