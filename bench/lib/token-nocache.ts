// Preload for a gateway variant (`node --import ./bench/lib/token-nocache.ts gateway/main.ts`): bypasses
// the gateway's CachingTokenVerifier (gateway/token-cache.ts), so every request pays jose's HS256 check
// as before that cache existed. Lets bench/gateway.ts keep measuring what the cache buys.
import type { TokenVerifier } from "../../gateway/app.ts";
import { CachingTokenVerifier } from "../../gateway/token-cache.ts";

CachingTokenVerifier.prototype.verify = function (this: { inner: TokenVerifier }, token: string): Promise<number> {
  return this.inner.verify(token);
};
