// Power of two choices: two distinct candidates drawn uniformly, the one with the lower score wins;
// ties go to the first drawn, which is itself random. O(1), no allocation. Shared by p2c-ewma and
// least-request, which differ only in their score.
import type { Millis } from "../load.ts";
import type { Candidate, PickIndex, StrategyContext } from "./types.ts";
import { weightedDraw } from "./weights.ts";

/** Lower is better. `weight` is the record's weight × the slow start factor at `now`. */
export type Score = (self: Candidate, other: Candidate, weight: number, now: Millis) => number;

export function twoChoices(
  cands: readonly Candidate[],
  ctx: StrategyContext,
  score: Score,
  /** Given the winner and the loser, returns the one to pick (p2c-ewma's force pick). */
  decide?: (winner: number, loser: number, now: Millis) => number,
): PickIndex {
  const n = cands.length;
  const { rng } = ctx;
  const ramp = weightedDraw(cands, ctx); // only its slow start factors are used here
  return (now) => {
    if (n === 1) return 0;
    const a = Math.min(n - 1, Math.floor(rng() * n));
    let b = Math.min(n - 2, Math.floor(rng() * (n - 1)));
    if (b >= a) b++;
    const ca = cands[a] as Candidate;
    const cb = cands[b] as Candidate;
    const sa = score(ca, cb, ca.weight * ramp.factor(a, now), now);
    const sb = score(cb, ca, cb.weight * ramp.factor(b, now), now);
    if (sb < sa) return decide ? decide(b, a, now) : b;
    return decide ? decide(a, b, now) : a;
  };
}
