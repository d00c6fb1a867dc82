// least-request: Envoy's LEAST_REQUEST: power of two choices on in-flight calls, weighted as
// weight / (active + 1)^bias (here its inverse, lower wins); bias = balancer.leastRequestBias
// (Envoy's active_request_bias, default 1). With equal weights it is plain P2C on in-flight.

import { twoChoices } from "./two-choices.ts";
import type { Candidate, Strategy } from "./types.ts";

export const leastRequest: Strategy = {
  usesWeights: true,
  score: (c, weight, _now, ctx) => (c.load.inflight + 1) ** ctx.leastRequestBias / weight,
  create: (ctx) => {
    const bias = ctx.leastRequestBias;
    const score =
      bias === 1
        ? (self: Candidate, _o: Candidate, weight: number) => (self.load.inflight + 1) / weight
        : (self: Candidate, _o: Candidate, weight: number) => (self.load.inflight + 1) ** bias / weight;
    return (cands) => twoChoices(cands, ctx, score);
  },
};
