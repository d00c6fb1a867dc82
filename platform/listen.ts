// Listening on every address. `::` is one dual-stack socket on Linux (IPv6, and IPv4 as mapped
// addresses), so one default serves IPv4-only, dual-stack and IPv6-only clusters alike; `0.0.0.0`
// would leave an IPv6-only pod unreachable at the address it advertises. On a host with IPv6 turned
// off (kernel `ipv6.disable=1`) binding `::` fails, and the bind falls back to `0.0.0.0`, as Node's
// own `listen()` without a host does. Any other host is bound as given, without fallback.
import type { Server } from "node:net";
import { unbracket } from "./discovery/registry/address.ts";

/** The default host of every listener: all addresses, IPv6 and IPv4. */
export const ANY_HOST = "::";

/** What binding `::` fails with where the host has no IPv6 (grpc-js puts the code in its message). */
const NO_IPV6 = ["EAFNOSUPPORT", "EADDRNOTAVAIL", "EPROTONOSUPPORT"];

export function ipv6Unavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && NO_IPV6.includes(code)) return true;
  const message = err instanceof Error ? err.message : String(err);
  return NO_IPV6.some((c) => message.includes(c));
}

/**
 * Binds with `bind(host)`; for ANY_HOST (bracketed or not) on a host without IPv6, binds `0.0.0.0`
 * instead and reports it through `onFallback` (a log line: the process is then IPv4 only).
 */
export async function bindHost<T>(
  host: string,
  bind: (host: string) => Promise<T>,
  onFallback?: (reason: unknown) => void,
): Promise<T> {
  if (unbracket(host) !== ANY_HOST) return bind(host);
  try {
    return await bind(host);
  } catch (err) {
    if (!ipv6Unavailable(err)) throw err;
    onFallback?.(err);
    return bind("0.0.0.0");
  }
}

/** `server.listen(port, host)` as a promise, with bindHost's fallback; rejects on the bind's error. */
export function listenOn(
  server: Server,
  port: number,
  host: string,
  onFallback?: (reason: unknown) => void,
): Promise<void> {
  const once = (h: string) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, unbracket(h), () => {
        server.off("error", reject);
        resolve();
      });
    });
  return bindHost(host, once, onFallback);
}
