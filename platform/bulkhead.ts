// A bulkhead: at most `maxConcurrent` jobs run, at most `maxQueued` wait; beyond that a caller is
// refused at once (shed, not queued without bound), and a waiting caller whose signal aborts leaves
// the queue without its job ever starting — work is never done for a caller that already gave up.

export class BulkheadFullError extends Error {
  override name = "BulkheadFullError";
}

export interface BulkheadOptions {
  maxConcurrent: number;
  maxQueued: number;
}

interface Waiter {
  start: () => void;
  fail: (err: unknown) => void;
}

export class Bulkhead {
  readonly #opts: BulkheadOptions;
  #running = 0;
  readonly #queue = new Set<Waiter>();

  constructor(opts: BulkheadOptions) {
    this.#opts = opts;
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#queue.size;
  }

  /** Runs `job` when a slot is free; BulkheadFullError when the queue is full; the signal's reason when aborted first. */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.#running >= this.#opts.maxConcurrent) await this.#wait(signal);
    this.#running++;
    try {
      return await job();
    } finally {
      this.#running--;
      this.#next();
    }
  }

  #wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.#queue.size >= this.#opts.maxQueued) {
      return Promise.reject(
        new BulkheadFullError(`${this.#running} running and ${this.#queue.size} waiting: over capacity`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#queue.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        fail: reject,
      };
      this.#queue.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #next(): void {
    const first = this.#queue.values().next();
    if (first.done) return;
    this.#queue.delete(first.value);
    first.value.start();
  }
}
