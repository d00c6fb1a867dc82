// weighted-random: probability ∝ the record's weight (× slow start while an instance ramps).
import type { Strategy } from "./types.ts";
import { weightedDraw } from "./weights.ts";

export const weightedRandom: Strategy = {
  usesWeights: true,
  create: (ctx) => (cands) => {
    const w = weightedDraw(cands, ctx);
    return (now) => w.draw(now);
  },
};
