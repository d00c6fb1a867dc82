// Waiting on conditions with a deadline: tests never sleep a fixed time to let something happen.
//
// A deadline is a bound on failure, never an expectation of speed: every wait's timeout is multiplied
// by the machine's load (loadFactor), so a wait that holds on an idle machine also holds while other
// work keeps the cores busy (processes start, elect and answer slower), and still ends when the
// condition will never come.
import { availableParallelism, loadavg } from "node:os";
import { setTimeout as delay } from "node:timers/promises";

export interface WaitOptions {
  /** On an idle machine; scaled by loadFactor(). */
  timeoutMs?: number;
  intervalMs?: number;
  message?: string;
  /** More of why the condition never came, added to the timeout's error (e.g. a process's log tail). */
  describe?: () => string;
}

/** The most a timeout is stretched: past this, a wait that has not ended is a failure, not slowness. */
const MAX_LOAD_FACTOR = 6;

/** The load now: runnable tasks per core over the last minute (os.loadavg()). */
function loadPerCore(): number {
  return (loadavg()[0] ?? 0) / availableParallelism();
}

/** How many times longer than idle a wait may take now: the load per core, in [1, MAX_LOAD_FACTOR]. */
export function loadFactor(): number {
  return Math.min(MAX_LOAD_FACTOR, Math.max(1, loadPerCore()));
}

/** `ms` (an idle machine's bound) scaled by the machine's load now. */
export function scaled(ms: number): number {
  return Math.round(ms * loadFactor());
}

/** A probe's error that ends the wait at once: the condition can no longer come (e.g. the process exited). */
export class WaitAborted extends Error {}

/** An error's message with its causes (fetch's "fetch failed" says why only in `cause`). */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    parts.push(e instanceof Error ? `${e.message}${typeof code === "string" ? ` [${code}]` : ""}` : String(e));
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ");
}

/**
 * Polls `probe` until it returns a truthy value (which is returned) or the deadline passes: `timeoutMs`
 * times the highest loadFactor() seen during the wait. A probe that throws WaitAborted ends it at once.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const intervalMs = opts.intervalMs ?? 25;
  const started = Date.now();
  let factor = loadFactor();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      lastError = err;
    }
    const elapsed = Date.now() - started;
    if (elapsed > timeoutMs * factor) {
      factor = Math.max(factor, loadFactor());
      if (elapsed > timeoutMs * factor) {
        const why = lastError === undefined ? "" : ` (last error: ${errorText(lastError)})`;
        const load = `${timeoutMs} ms x${factor.toFixed(1)} for a load of ${loadPerCore().toFixed(1)} per core`;
        const more = opts.describe ? `\n${opts.describe()}` : "";
        throw new Error(
          `timed out after ${elapsed} ms (${load}) waiting for ${opts.message ?? "condition"}${why}${more}`,
        );
      }
    }
    await delay(intervalMs);
  }
}
