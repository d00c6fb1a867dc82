// A bounded closed-loop load: `concurrency` workers call `op` back to back until stopped (or until the
// safety bound), counting successes and failures. An op signals failure by throwing.
export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
}

export class Load {
  ok = 0;
  failed = 0;
  readonly errors: string[] = [];
  #stopped = false;
  readonly #workers: Promise<void>[] = [];

  constructor(concurrency: number, op: (worker: number, iteration: number) => Promise<void>, maxMs = 180_000) {
    const until = Date.now() + maxMs;
    for (let w = 0; w < concurrency; w++) {
      this.#workers.push(
        (async () => {
          for (let i = 0; !this.#stopped && Date.now() < until; i++) {
            try {
              await op(w, i);
              this.ok++;
            } catch (err) {
              this.failed++;
              if (this.errors.length < 20) this.errors.push(`${new Date().toISOString()} ${(err as Error).message}`);
            }
          }
        })(),
      );
    }
  }

  async stop(): Promise<LoadResult> {
    this.#stopped = true;
    await Promise.all(this.#workers);
    return { ok: this.ok, failed: this.failed, errors: this.errors };
  }
}
