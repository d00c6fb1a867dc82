// Preload for a gateway variant (`node --import ./bench/lib/token-cache.ts gateway/main.ts`): memoises
// TokenService.verify per token string until the token's own `exp`, so a client that sends the same
// token on every request pays the HS256 check (jose → WebCrypto importKey + HMAC verify, ~17 % of the
// gateway's CPU in the profile) once. Only successful verifications are kept; a hit re-checks `exp`;
// the map is bounded (cleared when it reaches 10 000 entries). This is the change proposed for
// platform/auth.ts (see docs/profiling.md); here it only patches the class prototype, bench-only.
import { TokenService } from "../../platform/auth.ts";

const verify = TokenService.prototype.verify;
const caches = new WeakMap<TokenService, Map<string, { id: number; expMs: number }>>();
const MAX = 10_000;

TokenService.prototype.verify = async function (this: TokenService, token: string): Promise<number> {
  let cache = caches.get(this);
  if (!cache) {
    cache = new Map();
    caches.set(this, cache);
  }
  const hit = cache.get(token);
  if (hit && hit.expMs > Date.now()) return hit.id;
  const id = await verify.call(this, token);
  const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: number };
  if (typeof payload.exp === "number") {
    if (cache.size >= MAX) cache.clear();
    cache.set(token, { id, expMs: payload.exp * 1000 });
  }
  return id;
};
