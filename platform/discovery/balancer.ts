// Balancing strategies. Pure: given candidates and the ids already tried for this call, pick one.
import type { InstanceRecord } from "./record.ts";

/** Every strategy by name: config validation and the status page take the list from here. */
export const strategyNames = ["random", "weighted-random", "round-robin"] as const;
export type StrategyName = (typeof strategyNames)[number];

/** Defaults of a balanced client (the `balancer.*` config keys default to these). */
export const BALANCER_DEFAULTS = { strategy: "random", maxAttempts: 3, deadlineMs: 3_000 } as const satisfies {
  strategy: StrategyName;
  maxAttempts: number;
  deadlineMs: number;
};

/** What a strategy reads of a candidate. */
export interface Candidate {
  readonly id: string;
  readonly weight: number;
}

/**
 * Picks among a fixed list of candidates. Built when the list changes (ids and weights read then,
 * weight sums precomputed), so a pick with nothing excluded allocates nothing; an exclusion (a retry)
 * filters a copy.
 */
export interface Picker<T> {
  pick(exclude: ReadonlySet<string>): T | undefined;
}

export interface Balancer {
  readonly name: StrategyName;
  /** A picker over `items`; `candidate` says what the strategy reads of each. */
  picker<T>(items: readonly T[], candidate: (t: T) => Candidate): Picker<T>;
  /** One pick over `instances` (builds a picker; for one-off use and tests). */
  pick(instances: readonly InstanceRecord[], exclude: ReadonlySet<string>): InstanceRecord | undefined;
}

type PickFrom = <T>(items: readonly T[], ws: Weights) => T | undefined;

/** Weights of a candidate list: cumulative sums and total (0 when no weight is positive). */
interface Weights {
  cumulative: number[];
  total: number;
}

function weightsOf(ws: readonly number[]): Weights {
  const cumulative: number[] = [];
  let total = 0;
  for (const w of ws) {
    total += Math.max(0, w);
    cumulative.push(total);
  }
  return { cumulative, total };
}

/** A strategy from how it picks among a non-empty list (with its weights). */
function strategy(name: StrategyName, pickFrom: PickFrom): Balancer {
  const picker = <T>(items: readonly T[], candidate: (t: T) => Candidate): Picker<T> => {
    const cands = items.map(candidate);
    const all = weightsOf(cands.map((c) => c.weight));
    return {
      pick(exclude) {
        if (items.length === 0) return undefined;
        if (exclude.size === 0) return pickFrom(items, all);
        const kept: T[] = [];
        const weights: number[] = [];
        for (let i = 0; i < items.length; i++) {
          const c = cands[i] as Candidate;
          if (exclude.has(c.id)) continue;
          kept.push(items[i] as T);
          weights.push(c.weight);
        }
        return kept.length === 0 ? undefined : pickFrom(kept, weightsOf(weights));
      },
    };
  };
  return {
    name,
    picker,
    pick: (instances, exclude) => picker(instances, (r) => r).pick(exclude),
  };
}

function uniform<T>(items: readonly T[], rng: () => number): T | undefined {
  return items[Math.min(items.length - 1, Math.floor(rng() * items.length))];
}

function randomBalancer(rng: () => number): Balancer {
  return strategy("random", (items) => uniform(items, rng));
}

function weightedRandomBalancer(rng: () => number): Balancer {
  return strategy("weighted-random", (items, { cumulative, total }) => {
    if (total <= 0) return uniform(items, rng);
    const r = rng() * total;
    for (let i = 0; i < cumulative.length; i++) if (r < (cumulative[i] as number)) return items[i];
    return items[items.length - 1];
  });
}

function roundRobinBalancer(): Balancer {
  let next = 0; // per balancer instance, i.e. per client, across rebuilt pickers
  return strategy("round-robin", (items) => {
    const i = next % items.length;
    next = i + 1;
    return items[i];
  });
}

export function createBalancer(name: StrategyName, rng: () => number = Math.random): Balancer {
  switch (name) {
    case "random":
      return randomBalancer(rng);
    case "weighted-random":
      return weightedRandomBalancer(rng);
    case "round-robin":
      return roundRobinBalancer();
    default:
      throw new Error(`unknown balancer strategy: ${String(name)}`);
  }
}
