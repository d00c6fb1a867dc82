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

export interface Balancer {
  readonly name: StrategyName;
  pick(instances: readonly InstanceRecord[], exclude: ReadonlySet<string>): InstanceRecord | undefined;
}

function eligible(instances: readonly InstanceRecord[], exclude: ReadonlySet<string>): readonly InstanceRecord[] {
  if (exclude.size === 0) return instances;
  return instances.filter((i) => !exclude.has(i.id));
}

function randomBalancer(rng: () => number): Balancer {
  return {
    name: "random",
    pick(instances, exclude) {
      const c = eligible(instances, exclude);
      if (c.length === 0) return undefined;
      return c[Math.min(c.length - 1, Math.floor(rng() * c.length))];
    },
  };
}

function weightedRandomBalancer(rng: () => number): Balancer {
  return {
    name: "weighted-random",
    pick(instances, exclude) {
      const c = eligible(instances, exclude);
      if (c.length === 0) return undefined;
      let total = 0;
      for (const i of c) total += Math.max(0, i.weight);
      if (total <= 0) return c[Math.min(c.length - 1, Math.floor(rng() * c.length))];
      let r = rng() * total;
      for (const i of c) {
        r -= Math.max(0, i.weight);
        if (r < 0) return i;
      }
      return c[c.length - 1];
    },
  };
}

function roundRobinBalancer(): Balancer {
  let next = 0; // per balancer instance, i.e. per client
  return {
    name: "round-robin",
    pick(instances, exclude) {
      const c = eligible(instances, exclude);
      if (c.length === 0) return undefined;
      const i = next % c.length;
      next = i + 1;
      return c[i];
    },
  };
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
