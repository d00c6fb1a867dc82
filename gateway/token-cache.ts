// A TokenVerifier that remembers successful verifications until the token's own expiry.
//
// Why: verifying an HS256 token with jose costs a WebCrypto importKey + HMAC job per request; under
// load that was ~20 % of the gateway's CPU (docs/profiling.md), while clients send the same token on
// every request until it expires. A token is an immutable string checked against one key, so the
// answer for a token that verified once stays the same until its `exp`; a hit re-checks `exp` the
// way jose does (expired when now >= exp), so expiry is never extended. Failures are never cached
// (a forged or malformed token pays the full check every time). Bounded: the oldest entry is evicted
// when `maxEntries` is reached.
import type { TokenVerifier } from "./app.ts";

interface Entry {
  id: number;
  expMs: number;
}

export class CachingTokenVerifier implements TokenVerifier {
  /** The real verifier (public so benchmarks can bypass the cache). */
  readonly inner: TokenVerifier;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Entry>();

  constructor(inner: TokenVerifier, opts: { maxEntries?: number; now?: () => number } = {}) {
    this.inner = inner;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  async verify(token: string): Promise<number> {
    const hit = this.#cache.get(token);
    if (hit !== undefined) {
      if (hit.expMs > this.#now()) return hit.id;
      this.#cache.delete(token);
    }
    const id = await this.inner.verify(token);
    const expMs = expiryMs(token);
    if (expMs !== undefined && expMs > this.#now()) {
      if (this.#cache.size >= this.#maxEntries) {
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
      this.#cache.set(token, { id, expMs });
    }
    return id;
  }
}

/** `exp` (ms) of a JWT that has just been verified; undefined when it has none. */
function expiryMs(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as {
      exp?: unknown;
    };
    return typeof payload.exp === "number" && Number.isFinite(payload.exp) ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
