// What a balancing strategy is: a name and how, given a fixed candidate list, it picks an index.
// One strategy per file in this folder, registered by name in index.ts.
import type { LoadStats, Millis, SlowStartOptions } from "../load.ts";

/** What a strategy reads of a candidate. `load` is live (updated as calls end); the rest is fixed. */
export interface Candidate {
  readonly id: string;
  /** The etcd record's weight. */
  readonly weight: number;
  readonly load: LoadStats;
}

/** Knobs every strategy may read (config `balancer.*`), and the random source. */
export interface StrategyContext {
  readonly rng: () => number;
  readonly slowStart: SlowStartOptions;
  readonly forcePickMs: number;
  readonly leastRequestBias: number;
}

/** Picks the index of one of the candidates it was built over (never called on an empty list). */
export type PickIndex = (now: Millis) => number;

export interface Strategy {
  /** True when the etcd record's weight (and so slow start) shapes its picks. */
  readonly usesWeights: boolean;
  /**
   * Per balanced client: returns the picker builder, called each time the candidate list changes
   * (state that must outlive a rebuild, like round robin's cursor, lives in this closure). The builder
   * precomputes what it can so that a pick is O(1) and allocates nothing.
   */
  create(ctx: StrategyContext): (cands: readonly Candidate[]) => PickIndex;
  /**
   * What the strategy compares for `c` at `now` (lower is better), with `weight` the record's weight ×
   * its slow start factor; undefined when it compares nothing or the instance is cold. For the status
   * page and the score gauge, never on the pick path.
   */
  score?(c: Candidate, weight: number, now: Millis, ctx: StrategyContext): number | undefined;
}
