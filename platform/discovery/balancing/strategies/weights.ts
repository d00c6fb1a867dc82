// Weighted draws in O(1): Vose's alias method over the candidates' weights, built once per candidate
// list, and slow start applied on top by rejection (a draw of an instance still ramping is kept with
// probability = its slow start factor), which keeps the tables static while the factors change.
import { type Millis, slowStartFactor } from "../load.ts";
import type { Candidate, StrategyContext } from "./types.ts";

/** Redraws at most this often per pick; when every candidate is ramping the last draw stands. */
const MAX_REJECTIONS = 8;

export interface WeightedDraw {
  /** An index with probability ∝ weight × slow start factor at `now`. */
  draw(now: Millis): number;
  /** The slow start factor of candidate `i` at `now` (1 when slow start is off or over). */
  factor(i: number, now: Millis): number;
}

export function weightedDraw(cands: readonly Candidate[], ctx: StrategyContext): WeightedDraw {
  const n = cands.length;
  const prob = new Float64Array(n);
  const alias = new Uint32Array(n);
  const total = cands.reduce((s, c) => s + Math.max(0, c.weight), 0);
  const scaled = cands.map((c) => (total > 0 ? (Math.max(0, c.weight) * n) / total : 1));
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < n; i++) ((scaled[i] as number) < 1 ? small : large).push(i);
  while (small.length > 0 && large.length > 0) {
    const s = small.pop() as number;
    const l = large.pop() as number;
    prob[s] = scaled[s] as number;
    alias[s] = l;
    scaled[l] = (scaled[l] as number) + (scaled[s] as number) - 1;
    ((scaled[l] as number) < 1 ? small : large).push(l);
  }
  for (const i of large) prob[i] = 1;
  for (const i of small) prob[i] = 1; // rounding leftovers
  const { rng, slowStart } = ctx;
  // No candidate ramps after this time: draws skip the factors.
  const rampEnd = slowStart.windowMs > 0 ? Math.max(...cands.map((c) => c.load.since)) + slowStart.windowMs : 0;
  const once = (): number => {
    const u = rng() * n;
    const i = Math.min(n - 1, Math.floor(u));
    return u - i < (prob[i] as number) ? i : (alias[i] as number);
  };
  const factor = (i: number, now: Millis): number =>
    now >= rampEnd ? 1 : slowStartFactor(slowStart, (cands[i] as Candidate).load.since, now);
  return {
    factor,
    draw(now) {
      let i = once();
      if (now >= rampEnd) return i;
      for (let k = 1; k < MAX_REJECTIONS && rng() >= factor(i, now); k++) i = once();
      return i;
    },
  };
}
