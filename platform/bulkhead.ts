// A bulkhead: at most `maxConcurrent` jobs run, at most `maxQueued` wait; beyond that a caller is
// refused at once (shed, not queued without bound), and a waiting caller whose signal aborts leaves
// the queue without its job ever starting — work is never done for a caller that already gave up.
//
// Who waits is served fairly, not first come first served (the password-hashing queue under a
// distributed login flood): callers marked `priority` (a device that logged in before: OWASP's
// device cookies) have their own queue, served first; everyone else waits in one queue per `key`
// (the client), and the queues are served round-robin, so a client with many queued attempts delays
// no one but itself, and a newcomer waits for one job per waiting client at most. A key may have at
// most `maxQueuedPerKey` waiting.

export class BulkheadFullError extends Error {
  override name = "BulkheadFullError";
}

export interface BulkheadOptions {
  maxConcurrent: number;
  maxQueued: number;
  /** Waiting jobs of one key at most (default: maxQueued). */
  maxQueuedPerKey?: number;
}

export interface RunOptions {
  signal?: AbortSignal | undefined;
  /** Whose job this is (the client); jobs without one share the key "". */
  key?: string | undefined;
  /** Served before every other waiting job (its own queue, bounded by maxQueued too). */
  priority?: boolean | undefined;
}

interface Waiter {
  key: string;
  start: () => void;
}

export class Bulkhead {
  readonly #opts: BulkheadOptions;
  #running = 0;
  #queued = 0;
  readonly #priority = new Set<Waiter>();
  /** Waiting jobs by key; the Map's order is the round-robin order (a served key moves to the back). */
  readonly #byKey = new Map<string, Set<Waiter>>();

  constructor(opts: BulkheadOptions) {
    this.#opts = opts;
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#queued;
  }

  /** Runs `job` when a slot is free; BulkheadFullError when its queue is full; the signal's reason when aborted first. */
  async run<T>(job: () => Promise<T>, opts: RunOptions | AbortSignal = {}): Promise<T> {
    const o: RunOptions = opts instanceof AbortSignal ? { signal: opts } : opts;
    o.signal?.throwIfAborted();
    if (this.#running >= this.#opts.maxConcurrent) await this.#wait(o);
    this.#running++;
    try {
      return await job();
    } finally {
      this.#running--;
      this.#next();
    }
  }

  #queueOf(o: RunOptions): Set<Waiter> {
    if (o.priority) return this.#priority;
    const key = o.key ?? "";
    let q = this.#byKey.get(key);
    if (!q) {
      q = new Set();
      this.#byKey.set(key, q);
    }
    return q;
  }

  #wait(o: RunOptions): Promise<void> {
    const perKey = this.#opts.maxQueuedPerKey ?? this.#opts.maxQueued;
    const queue = o.priority ? this.#priority : this.#byKey.get(o.key ?? "");
    const full = o.priority
      ? this.#priority.size >= this.#opts.maxQueued
      : this.#queued - this.#priority.size >= this.#opts.maxQueued || (queue?.size ?? 0) >= perKey;
    if (full) {
      return Promise.reject(
        new BulkheadFullError(`${this.#running} running and ${this.#queued} waiting: over capacity`),
      );
    }
    const q = this.#queueOf(o);
    const key = o.key ?? "";
    return new Promise<void>((resolve, reject) => {
      const signal = o.signal;
      const onAbort = () => {
        this.#remove(q, waiter, o.priority === true);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        key,
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      q.add(waiter);
      this.#queued++;
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #remove(q: Set<Waiter>, w: Waiter, priority: boolean): void {
    if (!q.delete(w)) return;
    this.#queued--;
    if (!priority && q.size === 0) this.#byKey.delete(w.key);
  }

  #next(): void {
    const first = this.#priority.values().next();
    if (!first.done) {
      this.#remove(this.#priority, first.value, true);
      first.value.start();
      return;
    }
    const turn = this.#byKey.entries().next();
    if (turn.done) return;
    const [key, q] = turn.value;
    const w = q.values().next().value as Waiter;
    this.#remove(q, w, false);
    // Round robin: a key that still has waiters goes to the back.
    if (q.size > 0) {
      this.#byKey.delete(key);
      this.#byKey.set(key, q);
    }
    w.start();
  }
}
