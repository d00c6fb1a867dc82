// The end of one attempt on one instance, the same for unary calls (client.ts) and streams
// (stream-call.ts): outlier feedback, the in-flight count and load feedback, the instance's series.
import { Status } from "nice-grpc";
import type { PoolEntry } from "./entry.ts";
import type { InstancePool } from "./pool.ts";

/**
 * Settles an attempt that started at `started` (performance.now()) and ended with `code` (a Status
 * name, or a number's string). `latency` says whether its duration measures the instance (a unary
 * answer does; a stream's length is the list's). An attempt the caller abandoned (CANCELLED) teaches
 * outlier detection and the load-aware strategies nothing.
 */
export function endAttempt(
  pool: InstancePool,
  entry: PoolEntry,
  method: string,
  code: string,
  started: number,
  latency: boolean,
): void {
  const cancelled = code === "CANCELLED";
  if (!cancelled) pool.outcome(entry, code === "OK" ? undefined : Status[code as keyof typeof Status]);
  const ended = performance.now();
  pool.release(entry, ended, latency && !cancelled ? ended - started : undefined);
  entry.series.observe(method, code, (ended - started) / 1000);
}
