// Jittered exponential backoff (etcd re-registration and watch re-attach, SQLite busy retries) and a
// sleep that a stop can cut short.
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** Delay before retry number `attempt` (0-based): uniform in [d/2, d] with d = min(max, initial * 2^attempt). */
export function backoffDelay(opts: BackoffOptions, attempt: number, rng: () => number = Math.random): number {
  const d = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(attempt, 30));
  return d / 2 + rng() * (d / 2);
}

/** Resolves after `ms` or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves with the promise's outcome, or with `undefined` after `ms` (the promise is left running). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
