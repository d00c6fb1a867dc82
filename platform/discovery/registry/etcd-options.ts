// Recommended etcd3 client options for processes that use discovery.
//
// etcd3 v1.1.2 re-attaches its watch stream after an error with cockatiel's ExponentialBackoff
// (128 ms .. 30 s) and never clears that timer on close(): after an etcd outage a watch (e.g. the
// registrar's watch on its own key) may resume only after up to 30 s, and the pending timer keeps
// a closing process alive as long. A short capped backoff avoids both.
import { readFileSync } from "node:fs";
import { type CallOptions, Metadata } from "@grpc/grpc-js";
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type IPolicy,
} from "cockatiel";
import { castGrpcError, Etcd3, type IOptions, isRecoverableError } from "etcd3";
import { type BackoffOptions, backoffDelay } from "../../backoff.ts";

/** One authentication attempt per host: a healthy member answers in milliseconds, and every call waits for it. */
const AUTH_TIMEOUT_MS = 1_000;

/** How a process proves who it is to etcd (config keys etcd.username/password/tls.*). */
export interface EtcdAccess {
  username: string;
  password: string;
  tls: { caFile: string; certFile: string; keyFile: string };
}

/** A structural cockatiel IBackoff over platform/backoff.ts: jittered exponential, 100 ms capped at 2 s. */
export function watchBackoff(
  opts: BackoffOptions = { initialMs: 100, maxMs: 2_000 },
  attempt = 0,
): { readonly duration: number; next(): ReturnType<typeof watchBackoff> } {
  return { duration: backoffDelay(opts, attempt), next: () => watchBackoff(opts, attempt + 1) };
}

/**
 * etcd3's per-host circuit breaker (3 consecutive failures open it for 1 s), except that while its one
 * half-open trial call runs, other calls to that host fail at once (BrokenCircuitError: etcd3 moves on to
 * the next host) instead of waiting for the trial. cockatiel makes them wait, and etcd3 retries a call
 * that met "invalid auth token" from INSIDE that call's breaker slot: when that call is the trial, its
 * retry drawn to the same host awaits the trial, i.e. itself, forever, and so does every later call to
 * that host. After a whole etcd cluster was replaced (every token invalid) some processes never
 * registered again (tests/etcd/members.test.ts, wipe-all).
 */
export function failFastHostBreaker(halfOpenAfterMs = 1_000): IPolicy {
  const breaker = circuitBreaker(handleWhen(isRecoverableError), {
    halfOpenAfter: halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(3),
  });
  return new Proxy(breaker, {
    get(target, prop, receiver) {
      if (prop !== "execute") return Reflect.get(target, prop, receiver);
      return (fn: Parameters<typeof target.execute>[0], signal?: AbortSignal) => {
        if (target.state === CircuitState.HalfOpen) return Promise.reject(new BrokenCircuitError());
        return target.execute(fn, signal);
      };
    },
  });
}

/** Etcd3 constructor options: endpoints, dial timeout, a short watch re-attach backoff, gRPC keepalive,
 * and the credentials of `access` (user/password; TLS files are read once, here). */
export function etcdClientOptions(endpoints: string | string[], dialTimeoutMs = 3_000, access?: EtcdAccess): IOptions {
  const opts: IOptions = {
    hosts: endpoints,
    dialTimeout: dialTimeoutMs,
    faultHandling: {
      watchBackoff: watchBackoff() as never,
      // etcd3's default host breaker stays open 5 s after 3 failures: after a whole cluster came back,
      // a process would wait that long per host before trying again. 1 s keeps recovery within a lease TTL.
      host: () => failFastHostBreaker(),
    },
    grpcOptions: {
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
      // grpc-js backs reconnects off up to 120 s: after an etcd outage (or a whole cluster replaced)
      // a process would stay disconnected far longer than a lease TTL. Capped at 2 s.
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2_000,
      // etcd3 drops and recreates its gRPC clients after an error; with grpc-js' process-wide
      // subchannel pool the new ones would inherit the old reconnect backoff ("No connection
      // established") and miss a cluster that just came back. Each client keeps its own.
      "grpc.use_local_subchannel_pool": 1,
    },
  };
  if (access?.username) {
    // Bounded: etcd3 authenticates without a deadline, and a member that is starting can hold it ~20 s.
    opts.auth = {
      username: access.username,
      password: access.password,
      callOptions: () => ({ deadline: Date.now() + Math.min(dialTimeoutMs, AUTH_TIMEOUT_MS) }),
    };
  }
  const tls = access?.tls;
  if (tls && (tls.caFile || tls.certFile)) {
    opts.credentials = {
      // No CA file: grpc-js falls back to the system roots when the root certificate is absent.
      rootCertificate: tls.caFile ? readFileSync(tls.caFile) : (undefined as unknown as Buffer),
      ...(tls.certFile ? { certChain: readFileSync(tls.certFile), privateKey: readFileSync(tls.keyFile) } : {}),
    };
  }
  return opts;
}

interface PoolInternals {
  authenticator?: { getCredentialsFromHost?: unknown };
  hosts?: { host: string; getServiceClient(name: string): unknown; resetAllServices(): void }[];
}

/**
 * An Etcd3 client with `etcdClientOptions`. With a username, etcd3 (1.1.2) authenticates through a new
 * gRPC client per attempt made without our channel options and never closed: after an etcd outage it
 * sits in grpc-js' default reconnect backoff (up to 120 s), so a process could not log in again for
 * minutes (proven by tests/etcd/members.test.ts, wipe-all). Authentication goes through the host's own
 * Auth client instead (our options, reconnecting as every other call does). Should the library's
 * internals change, its own behaviour stays.
 */
export function createEtcdClient(options: IOptions): Etcd3 {
  const etcd = new Etcd3(options);
  const pool = (etcd as unknown as { pool?: PoolInternals }).pool;
  const auth = pool?.authenticator;
  const hosts = pool?.hosts;
  if (!options.auth || !auth || !hosts || typeof auth.getCredentialsFromHost !== "function") return etcd;
  auth.getCredentialsFromHost = (address: string, name: string, password: string, callOptions: CallOptions) => {
    const host = hosts.find((h) => h.host === address);
    if (!host) return Promise.reject(new Error(`etcd host ${address} is not in the pool`));
    const client = host.getServiceClient("Auth") as {
      authenticate(
        req: { name: string; password: string },
        md: Metadata,
        opts: CallOptions,
        cb: (err: Error | null, res?: { token: string }) => void,
      ): void;
    };
    return new Promise<string>((resolve, reject) => {
      client.authenticate({ name, password }, new Metadata(), callOptions ?? {}, (err, res) => {
        if (err || !res) {
          reject(castGrpcError(err ?? new Error("empty authenticate response")));
        } else resolve(res.token);
      });
    });
  };
  return etcd;
}
