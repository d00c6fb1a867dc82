// round-robin: in turn, weights ignored. The cursor is per client and survives rebuilt pickers.
import type { Strategy } from "./types.ts";

export const roundRobin: Strategy = {
  usesWeights: false,
  create: () => {
    let next = 0;
    return (cands) => {
      const n = cands.length;
      return () => {
        const i = next % n;
        next = i + 1;
        return i;
      };
    };
  },
};
