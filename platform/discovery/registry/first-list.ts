// A balanced call made before discovery's first list of its service waits for that list, as grpc-js
// queues a pick until its resolver's first result: a process that has just started (or a caller
// created on demand) answers its first requests instead of failing them because etcd had not
// answered yet. The wait is bounded by the call's deadline and its caller's abort signal.

/**
 * Resolves true once `listed` settles (the first list arrived; pick again), false when `endBy` (epoch
 * ms) comes first; rejects with the signal's reason when the caller aborts.
 */
export function waitForFirstList(listed: Promise<void>, endBy: number, signal?: AbortSignal): Promise<boolean> {
  signal?.throwIfAborted();
  const ms = endBy - Date.now();
  if (ms <= 0) return Promise.resolve(false);
  return new Promise<boolean>((resolve, reject) => {
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const timer = setTimeout(() => settle(() => resolve(false)), ms);
    const onAbort = () => settle(() => reject(signal?.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    listed.then(() => settle(() => resolve(true)));
  });
}
