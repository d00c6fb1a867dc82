// A balancer: one strategy (strategies/, by name) with its per-client state, making pickers over
// candidate lists. A picker is built when the list changes; a pick with nothing excluded is O(1) and
// allocates nothing; an exclusion (a retry) builds a picker over the rest.

import type { InstanceRecord } from "../registry/record.ts";
import { LOAD_DEFAULTS, LoadStats, type Millis, SLOW_START_DEFAULTS, sinceOf, slowStartFactor } from "./load.ts";
import {
  type Candidate,
  STRATEGIES,
  type StrategyContext,
  type StrategyName,
  strategyNames,
} from "./strategies/index.ts";

export { type Candidate, type StrategyName, strategyNames };

/** Defaults of a balanced client (the `balancer.*` config keys default to these). */
export const BALANCER_DEFAULTS = { strategy: "random", maxAttempts: 3, deadlineMs: 3_000 } as const satisfies {
  strategy: StrategyName;
  maxAttempts: number;
  deadlineMs: number;
};

export interface Picker<T> {
  /** One of the items not in `exclude` (ids), or undefined when none is left. `now`: performance.now(). */
  pick(exclude: ReadonlySet<string>, now: Millis): T | undefined;
}

export interface Balancer {
  readonly name: StrategyName;
  /** True when the record's weight (and slow start) shapes its picks. */
  readonly usesWeights: boolean;
  /** A picker over `items`; `candidate` says what the strategy reads of each (read once, here). */
  picker<T>(items: readonly T[], candidate: (t: T) => Candidate): Picker<T>;
  /** The strategy's score of `c` at `now` (lower is better; undefined: none or cold). Not for the pick path. */
  score(c: Candidate, now: Millis): number | undefined;
  /** One pick over `instances`, cold (builds a picker; for one-off use and tests). */
  pick(instances: readonly InstanceRecord[], exclude: ReadonlySet<string>): InstanceRecord | undefined;
}

/** A candidate for a bare record (no calls seen: cold load stats). */
export function recordCandidate(r: InstanceRecord): Candidate {
  return { id: r.id, weight: r.weight, load: new LoadStats(sinceOf(r.startedAt)) };
}

export function createBalancer(name: StrategyName, opts: Partial<StrategyContext> | (() => number) = {}): Balancer {
  const strategy = STRATEGIES[name];
  if (!strategy) throw new Error(`unknown balancer strategy: ${String(name)} (known: ${strategyNames.join(", ")})`);
  const o = typeof opts === "function" ? { rng: opts } : opts;
  const ctx: StrategyContext = {
    rng: o.rng ?? Math.random,
    slowStart: o.slowStart ?? SLOW_START_DEFAULTS,
    forcePickMs: o.forcePickMs ?? LOAD_DEFAULTS.forcePickMs,
    leastRequestBias: o.leastRequestBias ?? LOAD_DEFAULTS.leastRequestBias,
  };
  const build = strategy.create(ctx);
  const picker = <T>(items: readonly T[], candidate: (t: T) => Candidate): Picker<T> => {
    const cands = items.map(candidate);
    const pickIndex = cands.length > 0 ? build(cands) : undefined;
    return {
      pick(exclude, now) {
        if (!pickIndex) return undefined;
        if (exclude.size === 0) return items[pickIndex(now)];
        const kept: T[] = [];
        const keptCands: Candidate[] = [];
        for (let i = 0; i < items.length; i++) {
          if (exclude.has((cands[i] as Candidate).id)) continue;
          kept.push(items[i] as T);
          keptCands.push(cands[i] as Candidate);
        }
        return kept.length === 0 ? undefined : kept[build(keptCands)(now)];
      },
    };
  };
  return {
    name,
    usesWeights: strategy.usesWeights,
    picker,
    score: (c, now) => {
      if (!strategy.score) return undefined;
      const weight = strategy.usesWeights ? c.weight * slowStartFactor(ctx.slowStart, c.load.since, now) : 1;
      return strategy.score(c, weight, now, ctx);
    },
    pick: (instances, exclude) => picker(instances, recordCandidate).pick(exclude, performance.now()),
  };
}
