// Every balancing strategy by name. Adding one: a file in this folder and a line here; config
// validation, the status page and the benchmark take the list from here.
import { leastRequest } from "./least-request.ts";
import { p2cEwma } from "./p2c-ewma.ts";
import { random } from "./random.ts";
import { roundRobin } from "./round-robin.ts";
import type { Strategy } from "./types.ts";
import { weightedRandom } from "./weighted-random.ts";

export const STRATEGIES = {
  random,
  "weighted-random": weightedRandom,
  "round-robin": roundRobin,
  "p2c-ewma": p2cEwma,
  "least-request": leastRequest,
} as const satisfies Record<string, Strategy>;

export type StrategyName = keyof typeof STRATEGIES;

export const strategyNames = Object.keys(STRATEGIES) as [StrategyName, ...StrategyName[]];

export type { Candidate, PickIndex, Strategy, StrategyContext } from "./types.ts";
