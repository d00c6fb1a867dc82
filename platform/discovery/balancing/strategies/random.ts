// random: uniform over the candidates, weights ignored (the mission's default).
import type { Strategy } from "./types.ts";

export const random: Strategy = {
  usesWeights: false,
  create:
    ({ rng }) =>
    (cands) => {
      const n = cands.length;
      return () => Math.min(n - 1, Math.floor(rng() * n));
    },
};
