// p2c-ewma: power of two choices over peak-EWMA latency × (in-flight + 1) / weight, as go-zero's
// p2c_ewma and Finagle's P2CPeakEwma. The latency estimate is load.ts' (τ = balancer.ewmaDecayMs).
// - A cold instance (no answer yet) is scored with its competitor's latency, so it competes on
//   in-flight and weight (slow start keeps it from taking a full share at once); while its first calls
//   are still in flight it scores a penalty (Finagle), so a burst does not all land on it unanswered.
// - go-zero's force pick: the loser of a comparison not picked for forcePickMs is picked anyway, so a
//   slow instance's estimate is refreshed about once a second per client and it comes back soon after
//   it recovers instead of only after its cost decays.

import { twoChoices } from "./two-choices.ts";
import type { Candidate, Strategy } from "./types.ts";

/** Score of a cold instance with calls in flight (plus its in-flight count). */
const PENALTY = 1e12;

function score(self: Candidate, other: Candidate, weight: number, now: number): number {
  const l = self.load;
  let cost = l.cost(now);
  if (cost === 0) {
    if (l.inflight > 0) return PENALTY + l.inflight;
    cost = other.load.cost(now) || 1;
  }
  return (cost * (l.inflight + 1)) / weight;
}

export const p2cEwma: Strategy = {
  usesWeights: true,
  score: (c, weight, now) => {
    const cost = c.load.cost(now);
    return cost === 0 ? undefined : (cost * (c.load.inflight + 1)) / weight;
  },
  create: (ctx) => (cands) =>
    twoChoices(cands, ctx, score, (win, lose, now) => {
      const loser = (cands[lose] as Candidate).load;
      if (now - loser.lastPick > ctx.forcePickMs) {
        loser.lastPick = now;
        return lose;
      }
      (cands[win] as Candidate).load.lastPick = now;
      return win;
    }),
};
